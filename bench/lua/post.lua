-- POST one JSON body per request, cycling through the lines of a file (one body per line).
-- Usage: wrk -s post.lua <url> -- <bodies file> <token>
local bodies = {}
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
  for line in io.lines(args[1]) do bodies[#bodies + 1] = line end
  token = args[2] or "-"
  if token == "-" then token = "" end
  local offset = tonumber(args[3] or "0")
  index = (offset + (tid or 0) * math.floor(#bodies / 2)) % #bodies
end

function request()
  index = (index % #bodies) + 1
  local headers = {["Content-Type"] = "application/json"}
  if token ~= "" then headers["Authorization"] = "Bearer " .. token end
  return wrk.format("POST", nil, headers, bodies[index])
end
