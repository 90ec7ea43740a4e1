"""The product's URLs plus B3: a bare Django JSON POST (parse, answer, no database), under
/e/ so it passes the same ASGI wrapper and middleware stack as the Event API."""

import json

from django.http import JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from controlplane.urls import urlpatterns as product_urlpatterns


@csrf_exempt
def bare_json(request):
    events = json.loads(request.read())
    return JsonResponse({"ids": [str(i) for i in range(len(events))], "status": 200})


urlpatterns = [path("e/bench/bare-json", bare_json), *product_urlpatterns]
