-- wrk: POST one order to the JSON API (bench/frameworks/api.wsgi).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local lines = {}
for n = 1, 10 do
  lines[#lines + 1] = string.format('{"sku": "sku%03d", "qty": %d}', n * 7, n)
end
wrk.body = '{"customer": "ACME Corp", "reference": "PO-2026-0042", "lines": ['
  .. table.concat(lines, ", ") .. ']}'
