-- wrk script: send every request in absolute form through a forward proxy.
-- BENCH_HOST is the site asked for, BENCH_PATH the path on it.
local host = os.getenv("BENCH_HOST") or "daily-now-2620.test"
local path = os.getenv("BENCH_PATH") or "/bytes/1024"
wrk.path = "http://" .. host .. path
wrk.headers["Host"] = host
