-- POST one JSON body per request, cycling through the lines of a file (one body per line).
-- Usage: wrk -s post.lua <url> -- <bodies file> <token>
local bodies = {}
local token = ""
local index = 0

function init(args)
  for line in io.lines(args[1]) do bodies[#bodies + 1] = line end
  token = args[2] or "-"
  if token == "-" then token = "" end
  index = math.random(#bodies) - 1
end

function request()
  index = (index % #bodies) + 1
  local headers = {["Content-Type"] = "application/json"}
  if token ~= "" then headers["Authorization"] = "Bearer " .. token end
  return wrk.format("POST", nil, headers, bodies[index])
end
