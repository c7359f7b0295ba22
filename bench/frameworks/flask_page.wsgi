# Benchmark page: Flask rendering a Jinja template over 50 items.
import os

from flask import Flask, render_template

HERE = os.path.dirname(os.path.abspath(__file__))
app = Flask(__name__, root_path=HERE, template_folder="flask_templates")

ITEMS = [
    {
        "id": n,
        "name": "item %d <%s> & co" % (n, "abcdefghij"[n % 10]),
        "price": 1.25 * n + 0.99,
        "tags": ["tag%d" % (n % 7), "tag%d" % (n % 5)],
    }
    for n in range(1, 51)
]


@app.get("/")
def items():
    total = sum(item["price"] for item in ITEMS)
    return render_template("items.html", title="Flask items", items=ITEMS, total=total)


@app.get("/item/<int:item_id>")
def item(item_id):
    return {"id": item_id}


application = app
