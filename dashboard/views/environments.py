"""Environment pages."""

from django.conf import settings
from django.shortcuts import render

from dashboard.decorators import environment_view


def server_url(request) -> str:
    return settings.PUBLIC_URL or f"{request.scheme}://{request.get_host()}"


@environment_view()
def environment_home(request):
    return render(request, "dashboard/environment_home.html", {"server_url": server_url(request)})
