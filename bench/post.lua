-- wrk: POST the JSON body in the file $BENCH_BODY (GET when unset), with $BENCH_AUTH as Authorization;
-- print one JSON line of the run's figures.
local body_file = os.getenv("BENCH_BODY")
if body_file then
  local handle = assert(io.open(body_file, "rb"))
  wrk.method = "POST"
  wrk.body = handle:read("*a")
  handle:close()
  wrk.headers["Content-Type"] = "application/json"
end
local auth = os.getenv("BENCH_AUTH")
if auth and auth ~= "" then
  wrk.headers["Authorization"] = auth
end

done = function(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    '{"requests": %d, "seconds": %.6f, "p50_ms": %.4f, "p99_ms": %.4f, "bad_status": %d, "socket_errors": %d}\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    errors.status, errors.connect + errors.read + errors.write + errors.timeout))
end
