-- GET one path per request, cycling through the lines of a file (one path per line).
-- Usage: wrk -s get.lua <base url> -- <paths file> <token>
local paths = {}
local token = ""
local index = 0
local threads = 0

-- Each thread starts in its own part of the file, after the lines earlier runs used
-- (args[3]), so a run does not replay ids an earlier one consumed.
function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end

function init(args)
  for line in io.lines(args[1]) do paths[#paths + 1] = line end
  token = args[2] or "-"
  if token == "-" then token = "" end
  local offset = tonumber(args[3] or "0")
  index = (offset + (tid or 0) * math.floor(#paths / 2)) % #paths
end

function request()
  index = (index % #paths) + 1
  local headers = {}
  if token ~= "" then headers["Authorization"] = "Bearer " .. token end
  return wrk.format("GET", paths[index], headers, nil)
end
