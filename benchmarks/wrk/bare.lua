-- The floor: GET a plain view. Usage: wrk -s bare.lua URL
package.path = package.path .. ";" .. debug.getinfo(1, "S").source:sub(2):match("(.*/)") .. "?.lua"
require("report")

request = function()
  return wrk.format("GET", "/bare/")
end
