-- wrk: POST the order next to this script (order.json) to the JSON API
-- (api.wsgi). bench/frameworks/app_cost.py sends the same body.
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local f = assert(io.open(dir .. "order.json", "rb"))
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = f:read("*a")
f:close()
