"""Reads for organizations, environments, memberships and the audit log.

Lookups always go through the tenant: a membership for (user, organization slug), an
environment within an organization. Missing and not-yours look the same (None).
"""

from django.utils import timezone

from controlplane.tenancy.models import (
    AuditEntry,
    Environment,
    Invitation,
    Membership,
    Organization,
)
from controlplane.tokens import token_hash


def memberships_for_user(user) -> list[Membership]:
    return list(
        Membership.objects.filter(user=user)
        .select_related("organization")
        .order_by("organization__name")
    )


def membership_for(*, user, organization_slug: str) -> Membership | None:
    return (
        Membership.objects.filter(user=user, organization__slug=organization_slug)
        .select_related("organization", "user")
        .first()
    )


def environment_in_organization(*, organization: Organization, slug: str) -> Environment | None:
    return organization.environments.filter(slug=slug).first()


def environments_of(organization: Organization) -> list[Environment]:
    kind_order = {"production": 0, "development": 1, "custom": 2}
    environments = list(organization.environments.all())
    return sorted(environments, key=lambda e: (e.is_archived, kind_order[e.kind], e.name.lower()))


def default_environment(organization: Organization) -> Environment | None:
    live = [e for e in environments_of(organization) if not e.is_archived]
    return live[0] if live else None


def members_of(organization: Organization) -> list[Membership]:
    return list(organization.memberships.select_related("user").order_by("user__email"))


def member_in_organization(*, organization: Organization, public_id: str) -> Membership | None:
    return (
        organization.memberships.filter(public_id=public_id)
        .select_related("user", "organization")
        .first()
    )


def pending_invitations(organization: Organization) -> list[Invitation]:
    return list(
        organization.invitations.filter(accepted_at__isnull=True, expires_at__gt=timezone.now())
        .select_related("invited_by")
        .order_by("-created_at")
    )


def invitation_in_organization(*, organization: Organization, public_id: str) -> Invitation | None:
    return organization.invitations.filter(public_id=public_id, accepted_at__isnull=True).first()


def invitation_by_token(token: str) -> Invitation | None:
    return (
        Invitation.objects.filter(token_hash=token_hash(token))
        .select_related("organization")
        .first()
    )


def audit_entries(
    organization: Organization, *, before: str | None = None, limit: int = 50
) -> list[AuditEntry]:
    """Newest first, keyset-paginated by public id (ULIDs sort by time)."""
    entries = organization.audit_entries.select_related("environment")
    if before:
        entries = entries.filter(public_id__lt=before)
    return list(entries.order_by("-public_id")[:limit])


def dev_mode_environment() -> Environment | None:
    """The server's dev-mode environment, if one is marked."""
    return Environment.objects.filter(is_dev_mode=True).select_related("organization").first()
