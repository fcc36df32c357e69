-- post.lua: wrk script for tests/bench/load.sh. POSTs the bytes of the file named by
-- $HBN_BODY_FILE with Content-Type $HBN_CONTENT_TYPE (default application/json) to wrk's URL,
-- and at the end prints one machine-readable line:
--   HBN_RESULT <req/s> <p50 us> <p99 us> <non-2xx responses> <socket errors> <requests>
-- The body is read once per wrk thread, before it starts sending.
local path = os.getenv("HBN_BODY_FILE")
local f = assert(io.open(path, "rb"), "cannot open HBN_BODY_FILE " .. tostring(path))
local body = f:read("*a")
f:close()

wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = os.getenv("HBN_CONTENT_TYPE") or "application/json"

-- No request() function: wrk then builds the request once and resends the same bytes.

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("HBN_RESULT %.1f %d %d %d %d %d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(99),
    e.status, e.connect + e.read + e.write + e.timeout, summary.requests))
end
