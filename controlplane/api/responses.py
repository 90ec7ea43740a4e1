"""JSON answers in the shape the SDKs and Inngest's REST API use."""

from django.http import JsonResponse


def error_response(message: str, status: int, **extra) -> JsonResponse:
    """`{"error": ..., "status": ...}`: both SDKs read `error` and `status` from the body."""
    return JsonResponse({"error": message, "status": status, **extra}, status=status)
