"""Small helpers shared by dashboard views."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme


def safe_next(request, default: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, {request.get_host()}, request.is_secure()
    ):
        return target
    return default


def apply_errors(form, error: ValidationError) -> None:
    """Put a service's ValidationError onto the form: field errors where they belong."""
    if hasattr(error, "error_dict"):
        for field, errors in error.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, error)


def client_address(request) -> str:
    return request.META.get("REMOTE_ADDR", "")


def flash(request, message: str, fallback_url: str):
    """Tell the person something went wrong: an out-of-band banner for htmx, else a message."""
    if request.htmx:
        return render(request, "partials/flash.html", {"flash": message})
    messages.error(request, message)
    return redirect(fallback_url)
