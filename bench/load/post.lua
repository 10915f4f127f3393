-- wrk script: POST one fixed JSON body and report the run as one JSON line.
--
-- Configured through the environment (set by bench/load/wrk.py):
--   BENCH_BODY_FILE     file holding the request body (required)
--   BENCH_HEADERS_FILE  file of "Name: value" lines added to each request
--   BENCH_MAX_REQUESTS  stop each thread after this many responses (0: no limit)
--
-- done() prints "BENCHJSON {...}" with the request count, the duration and
-- error counts from wrk's summary, and latency percentiles in microseconds.

local function read_file(path)
  local f = assert(io.open(path, "rb"))
  local data = f:read("*a")
  f:close()
  return data
end

wrk.method = "POST"
wrk.body = read_file(assert(os.getenv("BENCH_BODY_FILE"), "BENCH_BODY_FILE is not set"))
wrk.headers["Content-Type"] = "application/json"

local headers_file = os.getenv("BENCH_HEADERS_FILE")
if headers_file and headers_file ~= "" then
  for line in read_file(headers_file):gmatch("[^\r\n]+") do
    local name, value = line:match("^([^:]+):%s*(.*)$")
    if name then
      wrk.headers[name] = value
    end
  end
end

local max_requests = tonumber(os.getenv("BENCH_MAX_REQUESTS") or "0") or 0

if max_requests > 0 then
  local seen = 0
  -- Only defined when needed: wrk parses bodies when a response() exists.
  function response(status, headers, body)
    seen = seen + 1
    if seen >= max_requests then
      wrk.thread:stop()
    end
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  local parts = {
    string.format('"requests":%d', summary.requests),
    string.format('"duration_us":%d', summary.duration),
    string.format('"bytes":%d', summary.bytes),
    string.format('"connect":%d', e.connect),
    string.format('"read":%d', e.read),
    string.format('"write":%d', e.write),
    string.format('"status":%d', e.status),
    string.format('"timeout":%d', e.timeout),
    string.format('"min_us":%d', latency.min),
    string.format('"max_us":%d', latency.max),
    string.format('"mean_us":%.1f', latency.mean),
  }
  for _, p in ipairs({ 50, 90, 99, 99.9 }) do
    parts[#parts + 1] = string.format('"p%s_us":%d', tostring(p):gsub("%.", "_"), latency:percentile(p))
  end
  io.write("BENCHJSON {" .. table.concat(parts, ",") .. "}\n")
end
