-- GET one path per request, cycling through the lines of a file (one path per line).
-- Usage: wrk -s get.lua <base url> -- <paths file> <token>
local paths = {}
local token = ""
local index = 0

function init(args)
  for line in io.lines(args[1]) do paths[#paths + 1] = line end
  token = args[2] or "-"
  if token == "-" then token = "" end
  index = math.random(#paths) - 1
end

function request()
  index = (index % #paths) + 1
  local headers = {}
  if token ~= "" then headers["Authorization"] = "Bearer " .. token end
  return wrk.format("GET", paths[index], headers, nil)
end
