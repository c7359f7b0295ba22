# A small but real Flask application, mounted with WSGIScriptAlias.
import hashlib
import importlib.metadata
import sys

import flask
from flask import Flask, jsonify, render_template_string, request, url_for

app = Flask(__name__)

INDEX = """<!doctype html>
<html><head><title>Flask on mod_wsgi</title></head>
<body>
<h1>Hello from Flask {{ version }}</h1>
<p>Python {{ python }}</p>
<form method="post" action="{{ url_for('form') }}">
  <input name="name"><input name="colour"><button>Send</button>
</form>
<a id="upload" href="{{ url_for('upload') }}">upload</a>
</body></html>
"""

THANKS = """<!doctype html>
<html><body><h1>Thanks, {{ name }}!</h1><p>Favourite colour: {{ colour }}</p></body></html>
"""


@app.get("/")
def index():
    return render_template_string(
        INDEX, version=importlib.metadata.version("flask"),
        python="%d.%d" % sys.version_info[:2])


@app.get("/api/echo")
def echo_get():
    args = request.args.to_dict(flat=False)
    numbers = [int(n) for n in request.args.getlist("n")]
    return jsonify(method="GET", args=args, total=sum(numbers))


@app.post("/api/echo")
def echo_post():
    data = request.get_json()
    return jsonify(
        method="POST",
        received=data,
        keys=sorted(data),
        doubled=[n * 2 for n in data.get("numbers", [])],
        greeting="Hello, %s!" % data.get("name", "?"),
        content_type=request.content_type,
    ), 201


@app.post("/form")
def form():
    return render_template_string(
        THANKS, name=request.form["name"], colour=request.form.get("colour", ""))


@app.post("/upload")
def upload():
    f = request.files["file"]
    data = f.read()
    return jsonify(
        filename=f.filename,
        mimetype=f.mimetype,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        note=request.form.get("note"),
    )


@app.get("/urls")
def urls():
    return jsonify(
        index=url_for("index"),
        upload=url_for("upload"),
        echo_external=url_for("echo_get", q="x", _external=True),
        script_root=request.script_root,
        path=request.path,
    )


@app.get("/info")
def info():
    import werkzeug
    return jsonify(
        prefix=sys.prefix,
        base_prefix=sys.base_prefix,
        flask_file=flask.__file__,
        werkzeug_file=werkzeug.__file__,
        version="%d.%d" % sys.version_info[:2],
    )


@app.errorhandler(404)
def not_found(error):
    return jsonify(error="not found", framework="flask", path=request.path), 404


application = app
