from django.shortcuts import redirect

from controlplane.accounts.models import User

# Machine endpoints work (or fail on their own terms) before anyone has signed up.
_EXEMPT_PREFIXES = ("/setup/", "/static/", "/e/", "/fn/", "/v0/", "/v1/", "/health", "/metrics")


class FirstRunMiddleware:
    """Until the first owner exists, every dashboard page leads to the setup page."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if (
            not request.path.startswith(_EXEMPT_PREFIXES)
            and not request.user.is_authenticated
            and not User.objects.exists()
        ):
            return redirect("dashboard:setup")
        return self.get_response(request)
