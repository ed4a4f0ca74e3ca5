-- Replay flood: every request presents the same, already used ticket.
-- Usage: wrk -s replay.lua URL -- <path with the used ticket> [<ms between requests>]
-- With a delay, each connection waits that long before each request: a flood
-- at a bounded rate (connections * 1000 / ms requests per second at most).
package.path = package.path .. ";" .. debug.getinfo(1, "S").source:sub(2):match("(.*/)") .. "?.lua"
require("report")

function init(args)
  path = args[1]
  pause = tonumber(args[2] or "0")
end

function delay()
  return pause
end

request = function()
  return wrk.format("GET", path)
end
