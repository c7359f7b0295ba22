from django.http import JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from .models import Item


@require_GET
def items(request):
    rows = list(Item.objects.filter(stock__gt=0).order_by("-price", "id")[:50])
    return render(request, "items.html", {
        "title": "Django items",
        "items": rows,
        "total": sum(row.price for row in rows),
    })


@require_GET
def item(request, item_id):
    return JsonResponse({"id": item_id})
