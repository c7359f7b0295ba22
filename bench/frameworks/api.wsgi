# Benchmark JSON API in plain WSGI: POST an order, get it priced back.
import json

PRICES = {"sku%03d" % n: round(0.5 + n * 0.75, 2) for n in range(100)}


def _json(start_response, status, body):
    data = json.dumps(body, separators=(",", ":")).encode()
    start_response(status, [("Content-Type", "application/json"),
                            ("Content-Length", str(len(data)))])
    return [data]


def application(environ, start_response):
    if environ["REQUEST_METHOD"] == "GET":
        return _json(start_response, "200 OK", {"status": "ok", "skus": len(PRICES)})
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        order = json.loads(environ["wsgi.input"].read(length))
        lines = []
        for line in order["lines"]:
            price = PRICES[line["sku"]]
            lines.append({"sku": line["sku"], "qty": line["qty"],
                          "unit": price, "amount": round(price * line["qty"], 2)})
    except (ValueError, KeyError, TypeError) as exc:
        return _json(start_response, "400 Bad Request", {"error": str(exc)})
    total = round(sum(line["amount"] for line in lines), 2)
    return _json(start_response, "201 Created", {
        "customer": order.get("customer"),
        "lines": lines,
        "total": total,
        "discount": round(total * 0.05, 2) if total > 100 else 0,
    })
