import hashlib
import json
import sys

import django
from django.http import HttpResponseBadRequest, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST


@require_GET
def index(request):
    return render(request, "index.html", {
        "django_version": django.get_version(),
        "python": "%d.%d" % sys.version_info[:2],
    })


# A JSON API: no CSRF token (clients are not browsers with forms).
@csrf_exempt
@require_http_methods(["GET", "POST"])
def api_echo(request):
    if request.method == "GET":
        args = {k: request.GET.getlist(k) for k in request.GET}
        total = sum(int(n) for n in request.GET.getlist("n"))
        return JsonResponse({"method": "GET", "args": args, "total": total})
    try:
        data = json.loads(request.body)
    except ValueError as exc:
        return HttpResponseBadRequest("bad JSON: %s" % exc)
    return JsonResponse({
        "method": "POST",
        "received": data,
        "keys": sorted(data),
        "doubled": [n * 2 for n in data.get("numbers", [])],
        "greeting": "Hello, %s!" % data.get("name", "?"),
        "content_type": request.content_type,
    }, status=201)


@require_http_methods(["GET", "POST"])
def form(request):
    if request.method == "POST":
        return render(request, "thanks.html", {
            "name": request.POST["name"],
            "colour": request.POST.get("colour", ""),
        })
    return render(request, "form.html")


# CSRF-protected like the form: the client sends the token as a field.
@require_POST
def upload(request):
    f = request.FILES["file"]
    data = f.read()
    return JsonResponse({
        "filename": f.name,
        "content_type": f.content_type,
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "note": request.POST.get("note"),
    })


@require_GET
def urls(request):
    return JsonResponse({
        "index": reverse("index"),
        "upload": reverse("upload"),
        "echo_absolute": request.build_absolute_uri(reverse("api_echo")),
        "script_name": request.META.get("SCRIPT_NAME"),
        "path": request.path,
        "path_info": request.path_info,
    })


@require_GET
def info(request):
    return JsonResponse({
        "prefix": sys.prefix,
        "base_prefix": sys.base_prefix,
        "django_file": django.__file__,
        "django_version": django.get_version(),
        "version": "%d.%d" % sys.version_info[:2],
    })
