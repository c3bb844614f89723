-- A login storm: POST one body per request, cycling through a file's lines, until the
-- run has sent <count> requests in all (each thread its share), then stop.
-- Usage: wrk -s storm.lua <url> -- <bodies file> <token> <count> <threads>
local bodies = {}
local token = ""
local index = 0
local threads = 0
local share = 0
local answered = 0

function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end

function init(args)
  for line in io.lines(args[1]) do bodies[#bodies + 1] = line end
  token = args[2]
  share = math.floor(tonumber(args[3]) / tonumber(args[4]))
  index = ((tid or 0) * share) % #bodies
end

function request()
  index = (index % #bodies) + 1
  return wrk.format("POST", nil, {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. token,
  }, bodies[index])
end

function response(status, headers, body)
  answered = answered + 1
  if answered >= share then wrk.thread:stop() end
end
