-- wrk script for #4: signed GitHub push deliveries, each with its own delivery id,
-- counting answers by status. Body and headers come from files bench/webhooks.py writes.
local dir = os.getenv("BENCH_HOOK_DIR")
local threads = {}
counter, statuses = 0, {}  -- globals: done() reads them through thread:get

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  if dir then
    wrk.method = "POST"
    wrk.body = io.open(dir .. "/body.json"):read("*a")
    for line in io.lines(dir .. "/headers.txt") do
      local name, value = line:match("^([^:]+): (.*)$")
      wrk.headers[name] = value
    end
  end
end

function request()
  counter = counter + 1
  if dir then
    wrk.headers["X-GitHub-Delivery"] = string.format("%d-%d-%d", os.time(), tid, counter)
  end
  return wrk.format()
end

function response(status)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local seen = {}
  for _, thread in ipairs(threads) do
    local s = thread:get("statuses")
    for code, n in pairs(s) do seen[code] = (seen[code] or 0) + n end
  end
  local parts = {}
  for code, n in pairs(seen) do table.insert(parts, code .. "=" .. n) end
  io.write(string.format("RESULT rate=%.1f p50=%.2f p99=%.2f statuses=%s\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, table.concat(parts, ",")))
end
