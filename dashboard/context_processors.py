from django.conf import settings

from controlplane.accounts.selectors import session_is_verified
from controlplane.tenancy.selectors import environments_of, memberships_for_user


def navigation(request):
    """The header's organization and environment switchers, for verified sessions only."""
    context = {"site_name": settings.SITE_NAME}
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not session_is_verified(user):
        return context
    context["nav_memberships"] = memberships_for_user(user)
    organization = getattr(request, "organization", None)
    if organization is not None:
        context["nav_environments"] = environments_of(organization)
    return context
