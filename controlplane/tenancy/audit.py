"""The audit log's single write path."""

from django.db import models

from controlplane.tenancy.models import AuditEntry, Environment, Organization


def audit_record(
    *,
    organization: Organization,
    actor,
    action: str,
    target: models.Model | None = None,
    environment: Environment | None = None,
    data: dict | None = None,
) -> AuditEntry:
    """Append one entry. `actor` is a user, or None for the system (bootstrap, engine)."""
    return AuditEntry.objects.create(
        organization=organization,
        environment=environment,
        actor=actor,
        actor_label=actor.email if actor is not None else "system",
        action=action,
        target_type=target._meta.model_name if target is not None else "",
        target_label=str(target)[:254] if target is not None else "",
        data=data or {},
    )
