"""Writes for organizations, environments, memberships and invitations.

Every service runs in one transaction and writes its audit entry in it.
"""

from datetime import timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from controlplane.accounts.models import normalize_email
from controlplane.keys.services import signing_key_provision
from controlplane.live import sockets_recheck
from controlplane.tenancy.audit import audit_record
from controlplane.tenancy.models import (
    Environment,
    EnvironmentKind,
    Invitation,
    Membership,
    Organization,
    Role,
)
from controlplane.tenancy.selectors import dev_mode_environment
from controlplane.tenancy.slugs import (
    RESERVED_ENVIRONMENT_SLUGS,
    RESERVED_ORGANIZATION_SLUGS,
    unique_slug,
    validate_slug,
)
from controlplane.tokens import new_token, token_hash

INVITATION_LIFETIME = timedelta(days=7)


@transaction.atomic
def organization_create(*, name: str, owner) -> Organization:
    """Create an organization owned by `owner`, with a Production and a Development environment.

    Side effects: the organization, two environments, the owner's membership, audit entries.
    """
    name = name.strip()
    if not name:
        raise ValidationError({"name": "Give the organization a name."})
    slug = unique_slug(
        name,
        taken=lambda s: Organization.objects.filter(slug=s).exists(),
        reserved=RESERVED_ORGANIZATION_SLUGS,
        fallback="org",
    )
    organization = Organization.objects.create(name=name, slug=slug)
    Membership.objects.create(organization=organization, user=owner, role=Role.OWNER)
    audit_record(
        organization=organization, actor=owner, action="organization.created", target=organization
    )
    for env_name, kind in (
        ("Production", EnvironmentKind.PRODUCTION),
        ("Development", EnvironmentKind.DEVELOPMENT),
    ):
        environment_create(organization=organization, actor=owner, name=env_name, kind=kind)
    environment_ensure_dev_mode()
    return organization


@transaction.atomic
def environment_create(
    *, organization: Organization, actor, name: str, kind: str, slug: str | None = None
) -> Environment:
    """Side effects: the environment, its active signing key, an audit entry."""
    name = name.strip()
    if not name:
        raise ValidationError({"name": "Give the environment a name."})
    if slug:
        try:
            validate_slug(slug, reserved=RESERVED_ENVIRONMENT_SLUGS)
        except ValidationError as exc:
            raise ValidationError({"slug": exc.messages}) from None
        if organization.environments.filter(slug=slug).exists():
            raise ValidationError(
                {"slug": "Another environment of this organization uses that slug."}
            )
    else:
        slug = unique_slug(
            name,
            taken=lambda s: organization.environments.filter(slug=s).exists(),
            reserved=RESERVED_ENVIRONMENT_SLUGS,
            fallback="env",
        )
    environment = Environment.objects.create(
        organization=organization, name=name, slug=slug, kind=kind
    )
    signing_key_provision(environment=environment)
    audit_record(
        organization=organization,
        environment=environment,
        actor=actor,
        action="environment.created",
        target=environment,
        data={"kind": kind},
    )
    return environment


@transaction.atomic
def environment_rename(*, environment: Environment, actor, name: str) -> None:
    name = name.strip()
    if not name:
        raise ValidationError({"name": "Give the environment a name."})
    if name == environment.name:
        return
    old, environment.name = environment.name, name
    environment.save(update_fields=["name"])
    audit_record(
        organization=environment.organization,
        environment=environment,
        actor=actor,
        action="environment.renamed",
        target=environment,
        data={"from": old, "to": name},
    )


@transaction.atomic
def environment_set_archived(*, environment: Environment, actor, archived: bool) -> None:
    """Archive (no events accepted, no runs started) or unarchive a custom environment."""
    if environment.kind != EnvironmentKind.CUSTOM:
        raise ValidationError("Only custom environments can be archived.")
    if archived == environment.is_archived:
        return
    environment.archived_at = timezone.now() if archived else None
    environment.save(update_fields=["archived_at"])
    audit_record(
        organization=environment.organization,
        environment=environment,
        actor=actor,
        action="environment.archived" if archived else "environment.unarchived",
        target=environment,
    )


@transaction.atomic
def environment_set_dev_mode(*, environment: Environment, actor) -> None:
    """Make this the server's dev-mode environment (unsigned SDK dev-mode apps, NO_EVENT_KEY_SET).

    Side effects: unmarks the previous dev-mode environment; an audit entry.
    """
    if environment.is_dev_mode:
        return
    Environment.objects.filter(is_dev_mode=True).update(is_dev_mode=False)
    environment.is_dev_mode = True
    environment.save(update_fields=["is_dev_mode"])
    audit_record(
        organization=environment.organization,
        environment=environment,
        actor=actor,
        action="environment.dev_mode_enabled",
        target=environment,
    )


def environment_ensure_dev_mode() -> Environment | None:
    """The server's dev-mode environment; with DEV_MODE_ENVIRONMENT=first and none marked yet,
    the first organization's Development environment, marked now. Runs at organization
    creation, when `manage.py serve` starts, and on every request that needs the dev-mode
    environment: the first organization may come from another process (`manage.py bootstrap`
    runs without the setting), and the server that has the setting marks it then.

    Side effects: at most one environment marked, with an audit entry by the system.
    """
    if current := dev_mode_environment():  # the common case: one indexed query
        return current
    if settings.DEV_MODE_ENVIRONMENT != "first":
        return None
    with transaction.atomic():
        # Locked, then checked again: two first requests at once mark one environment, once.
        # (SQLite transactions are IMMEDIATE: there the whole block is serialized.)
        first = (
            Environment.objects.select_for_update(of=("self",))
            .select_related("organization")
            .filter(kind=EnvironmentKind.DEVELOPMENT, archived_at__isnull=True)
            .order_by("organization_id", "id")
            .first()
        )
        if first is None:
            return None
        if current := dev_mode_environment():  # marked while this request waited
            return current
        environment_set_dev_mode(environment=first, actor=None)
    return first


@transaction.atomic
def organization_update(
    *, organization: Organization, actor, name: str, require_two_factor: bool
) -> None:
    """Side effects: the organization row and an audit entry listing what changed; when it
    starts requiring two-factor authentication, its members' open sockets check again."""
    from controlplane.accounts.selectors import user_has_two_factor

    name = name.strip()
    if not name:
        raise ValidationError({"name": "Give the organization a name."})
    if (
        require_two_factor
        and not organization.require_two_factor
        and not user_has_two_factor(actor)
    ):
        message = "Set up two-factor authentication for yourself before requiring it."
        raise ValidationError({"require_two_factor": message})
    changes = {}
    if name != organization.name:
        changes["name"] = [organization.name, name]
    if require_two_factor != organization.require_two_factor:
        changes["require_two_factor"] = [organization.require_two_factor, require_two_factor]
    if not changes:
        return
    organization.name = name
    organization.require_two_factor = require_two_factor
    organization.save(update_fields=["name", "require_two_factor"])
    if require_two_factor and "require_two_factor" in changes:
        sockets_recheck(user_ids=list(organization.memberships.values_list("user_id", flat=True)))
    audit_record(
        organization=organization,
        actor=actor,
        action="organization.updated",
        target=organization,
        data=changes,
    )


def _check_can_manage(actor_membership: Membership, target_role: str) -> None:
    """Admins manage admins, members and viewers; only owners grant or touch the owner role."""
    if not actor_membership.allows(Role.ADMIN):
        raise PermissionDenied("Only owners and admins manage members.")
    if target_role == Role.OWNER and actor_membership.role != Role.OWNER:
        raise PermissionDenied("Only owners can grant or change the owner role.")


def _check_not_last_owner(membership: Membership) -> None:
    if membership.role == Role.OWNER:
        owners = Membership.objects.select_for_update().filter(
            organization_id=membership.organization_id, role=Role.OWNER
        )
        if owners.count() <= 1:
            raise ValidationError(
                "An organization needs at least one owner: make someone else an owner first."
            )


@transaction.atomic
def membership_change_role(
    *, membership: Membership, actor_membership: Membership, role: str
) -> None:
    """Side effects: the membership's role and an audit entry."""
    if role not in Role.values:
        raise ValidationError("Unknown role.")
    _check_can_manage(actor_membership, membership.role)
    _check_can_manage(actor_membership, role)
    if role == membership.role:
        return
    if role != Role.OWNER:
        _check_not_last_owner(membership)
    old = membership.role
    membership.role = role
    membership.save(update_fields=["role"])
    audit_record(
        organization=membership.organization,
        actor=actor_membership.user,
        action="member.role_changed",
        target=membership.user,
        data={"from": old, "to": role},
    )


@transaction.atomic
def membership_remove(*, membership: Membership, actor_membership: Membership) -> None:
    """Side effects: deletes the membership; an audit entry; after commit, the person's open
    sockets check again (those on this organization's pages close)."""
    _check_can_manage(actor_membership, membership.role)
    _check_not_last_owner(membership)
    membership.delete()
    sockets_recheck(user_ids=[membership.user_id])
    audit_record(
        organization=membership.organization,
        actor=actor_membership.user,
        action="member.removed",
        target=membership.user,
        data={"role": membership.role},
    )


@transaction.atomic
def invitation_create(
    *, organization: Organization, actor_membership: Membership, email: str, role: str
) -> tuple[Invitation, str]:
    """Invite an email address. Returns the invitation and its token, which is shown once.

    Side effects: the invitation (token stored hashed), an audit entry.
    """
    _check_can_manage(actor_membership, role)
    email = normalize_email(email)
    if organization.memberships.filter(user__email__iexact=email).exists():
        raise ValidationError({"email": "This person is already a member."})
    # One open invitation per address: a new one replaces the old link.
    organization.invitations.filter(email__iexact=email, accepted_at__isnull=True).delete()
    token = new_token()
    invitation = Invitation.objects.create(
        organization=organization,
        email=email,
        role=role,
        token_hash=token_hash(token),
        invited_by=actor_membership.user,
        expires_at=timezone.now() + INVITATION_LIFETIME,
    )
    audit_record(
        organization=organization,
        actor=actor_membership.user,
        action="invitation.created",
        target=invitation,
        data={"email": email, "role": role},
    )
    return invitation, token


@transaction.atomic
def invitation_revoke(*, invitation: Invitation, actor_membership: Membership) -> None:
    _check_can_manage(actor_membership, invitation.role)
    invitation.delete()
    audit_record(
        organization=invitation.organization,
        actor=actor_membership.user,
        action="invitation.revoked",
        data={"email": invitation.email},
    )


@transaction.atomic
def invitation_accept(*, invitation: Invitation, user) -> Membership:
    """Join the organization. Side effects: the membership, the invitation marked used, audit."""
    invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if invitation.accepted_at is not None or invitation.expires_at <= timezone.now():
        raise ValidationError("This invitation has expired or was already used.")
    if normalize_email(user.email) != invitation.email:
        raise ValidationError(
            f"This invitation is for {invitation.email}; sign in with that address."
        )
    membership, created = Membership.objects.get_or_create(
        organization=invitation.organization, user=user, defaults={"role": invitation.role}
    )
    invitation.accepted_at = timezone.now()
    invitation.save(update_fields=["accepted_at"])
    if created:
        audit_record(
            organization=invitation.organization,
            actor=user,
            action="invitation.accepted",
            target=user,
            data={"role": invitation.role},
        )
    return membership
