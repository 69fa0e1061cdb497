-- wrk script for bench/run: POST one JSON body per request, cycling through a file of bodies
-- (one per line, see init) so the user changes on every request; prints the figures as one JSON line.
-- Usage: wrk -s bench/wrk.lua URL -- BODIES_FILE

local bodies = {}
local next_index = 0
local headers = { ["Content-Type"] = "application/json" }

-- A line is a JSON body, or "AUTHORIZATION<TAB>JSON" for a request with that header.
function init(args)
  for line in io.lines(args[1]) do
    local auth, body = line:match("^([^\t]*)\t(.*)$")
    if auth then
      bodies[#bodies + 1] = { body = body, headers = {
        ["Content-Type"] = "application/json", ["Authorization"] = auth } }
    else
      bodies[#bodies + 1] = { body = line, headers = headers }
    end
  end
  -- Threads start at different users.
  next_index = (id or 0) * 7
end

local threads = 0

function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
end

function request()
  next_index = next_index % #bodies + 1
  local item = bodies[next_index]
  return wrk.format("POST", nil, item.headers, item.body)
end

function done(summary, latency, requests)
  local e = summary.errors
  -- The latency at the middle of each thousandth of the requests, so that bench/run can pool
  -- several short windows into one distribution.
  local grid = {}
  for i = 1, 1000 do
    grid[i] = string.format("%d", latency:percentile((i - 0.5) / 10))
  end
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"p50":%d,"p90":%d,"p99":%d,"max":%d,"mean":%.1f,"grid":[%s]}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean, table.concat(grid, ",")))
end
