from django.contrib import admin
from django.urls import include, path
from django_otp.admin import OTPAdminSite

# The Django admin (operators: users, celery-beat schedules) also demands the second factor.
admin.site.__class__ = OTPAdminSite

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("controlplane.api.urls")),
    path("", include("controlplane.observability.urls")),
    path("account/", include("dashboard.account_urls")),
    path("", include("dashboard.urls")),
]
