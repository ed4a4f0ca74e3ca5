-- Valid users: each request consumes a fresh pre-issued ticket.
-- Usage: wrk -t T -s fresh.lua URL -- <file of paths> <T>
-- Thread k takes lines k+1, k+1+T, ... so no ticket is sent twice. A thread
-- that runs out stops (its requests so far are counted).
package.path = package.path .. ";" .. debug.getinfo(1, "S").source:sub(2):match("(.*/)") .. "?.lua"
require("report")

local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end

function init(args)
  local file, threads = args[1], tonumber(args[2])
  paths = {}
  local index = 0
  for line in io.lines(file) do
    if index % threads == id then
      paths[#paths + 1] = line
    end
    index = index + 1
  end
  next_path = 0
end

request = function()
  next_path = next_path + 1
  if next_path > #paths then
    wrk.thread:stop()
    next_path = #paths
  end
  return wrk.format("GET", paths[next_path])
end
