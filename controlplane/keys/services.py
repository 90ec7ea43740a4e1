"""Writes for event keys and signing keys. Each runs in one transaction with its audit entry."""

import hashlib
import secrets
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from controlplane.keys import crypto
from controlplane.keys.filters import parse_event_names, parse_networks
from controlplane.keys.models import (
    ApiAccess,
    ApiKey,
    EventKey,
    FilterMode,
    SigningKey,
    SigningKeyState,
)
from controlplane.keys.signatures import bearer_hash
from controlplane.tenancy.audit import audit_record
from controlplane.tenancy.models import Environment, EnvironmentKind
from controlplane.tokens import new_token, token_hash

# last_used_at is advisory: write it at most this often per key, not on every event.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def _audit(key, actor, action: str, data: dict | None = None) -> None:
    environment = key.environment
    audit_record(
        organization=environment.organization,
        environment=environment,
        actor=actor,
        action=action,
        target=key,
        data=data,
    )


def _clean_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise ValidationError({"name": "Give the key a name."})
    if len(name) > 100:
        raise ValidationError({"name": "At most 100 characters."})
    return name


def _save_unique_name(event_key: EventKey, **kwargs) -> None:
    if (
        EventKey.objects.filter(environment=event_key.environment, name=event_key.name)
        .exclude(pk=event_key.pk)
        .exists()
    ):
        raise ValidationError({"name": "Another key in this environment has that name."})
    try:
        with transaction.atomic():
            event_key.save(**kwargs)
    except IntegrityError:
        raise ValidationError({"name": "Another key in this environment has that name."}) from None


@transaction.atomic
def event_key_create(*, environment: Environment, actor, name: str) -> tuple[EventKey, str]:
    """A new event key. Returns it and the secret, which is shown once and stored hashed.

    Side effects: the key row, an audit entry.
    """
    secret = secrets.token_hex(32)
    event_key = EventKey(
        environment=environment,
        name=_clean_name(name),
        prefix=secret[:8],
        key_hash=token_hash(secret),
        created_by=actor,
    )
    _save_unique_name(event_key)
    _audit(event_key, actor, "event_key.created")
    return event_key, secret


@transaction.atomic
def event_key_set_enabled(*, event_key: EventKey, actor, enabled: bool) -> None:
    if event_key.enabled == enabled:
        return
    event_key.enabled = enabled
    event_key.save(update_fields=["enabled"])
    _audit(event_key, actor, "event_key.enabled" if enabled else "event_key.disabled")


@transaction.atomic
def event_key_delete(*, event_key: EventKey, actor) -> None:
    deleted, _ = EventKey.objects.filter(pk=event_key.pk).delete()
    if not deleted:
        raise ValidationError("This key was already deleted.")
    _audit(event_key, actor, "event_key.deleted")


def _clean_filter(mode: str, events_text: str, networks_text: str) -> tuple[list[str], list[str]]:
    if mode not in FilterMode.values:
        raise ValidationError({"mode": "Choose a filter type."})
    errors = {}
    events, networks = [], []
    try:
        events = parse_event_names(events_text)
    except ValidationError as exc:
        errors["events"] = exc.messages
    else:
        if mode == FilterMode.ALLOW and not events:
            errors["events"] = ["An allowlist needs at least one event name."]
    try:
        networks = parse_networks(networks_text)
    except ValidationError as exc:
        errors["networks"] = exc.messages
    if errors:
        raise ValidationError(errors)
    return (events if mode != FilterMode.NONE else []), networks


@transaction.atomic
def event_key_update(
    *, event_key: EventKey, actor, name: str, mode: str, events_text: str, networks_text: str
) -> None:
    """Rename the key and replace its filter, all or nothing. An allowlist must name an event.

    Side effects: the key row; audit entries for a rename and for a filter change.
    """
    name = _clean_name(name)
    events, networks = _clean_filter(mode, events_text, networks_text)
    old_name = event_key.name
    old_filter = (event_key.filter_mode, event_key.filter_events, event_key.filter_networks)
    event_key.name = name
    event_key.filter_mode, event_key.filter_events, event_key.filter_networks = (
        mode,
        events,
        networks,
    )
    _save_unique_name(
        event_key, update_fields=["name", "filter_mode", "filter_events", "filter_networks"]
    )
    if name != old_name:
        _audit(event_key, actor, "event_key.renamed", {"from": old_name, "to": name})
    if (mode, events, networks) != old_filter:
        _audit(
            event_key,
            actor,
            "event_key.filter_changed",
            {"mode": mode, "events": events, "networks": networks},
        )


def key_touch(key: EventKey | ApiKey) -> None:
    """Record a key's use, at most once per LAST_USED_RESOLUTION (no audit: not an action)."""
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at >= LAST_USED_RESOLUTION:
        type(key).objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now


# API keys look like "cpk_<43 urlsafe characters>": the prefix tells them from signing keys.
API_KEY_PREFIX = "cpk_"


@transaction.atomic
def api_key_create(
    *, environment: Environment, actor, name: str, access: str, expires_at=None
) -> tuple[ApiKey, str]:
    """A new REST API key. Returns it and the secret, which is shown once and stored hashed.

    Side effects: the key row, an audit entry.
    """
    if access not in ApiAccess.values:
        raise ValidationError({"access": "Choose read only or read and write."})
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationError({"expires_at": "Choose a time in the future."})
    secret = API_KEY_PREFIX + new_token()
    api_key = ApiKey.objects.create(
        environment=environment,
        name=_clean_name(name),
        prefix=secret[:12],
        key_hash=token_hash(secret),
        access=access,
        expires_at=expires_at,
        created_by=actor,
    )
    _audit(
        api_key,
        actor,
        "api_key.created",
        {"access": access, "expires_at": expires_at.isoformat() if expires_at else None},
    )
    return api_key, secret


@transaction.atomic
def api_key_revoke(*, api_key: ApiKey, actor) -> None:
    """Revoke for good: the key answers 401 from now on. Side effects: the row, an audit entry."""
    revoked = ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    if not revoked:
        raise ValidationError("This key was already revoked.")
    api_key.refresh_from_db(fields=["revoked_at"])
    _audit(api_key, actor, "api_key.revoked")


def _new_signing_key(environment: Environment, state: str) -> tuple[SigningKey, str]:
    kind = "prod" if environment.kind == EnvironmentKind.PRODUCTION else "test"
    key = f"signkey-{kind}-{secrets.token_hex(32)}"
    signing_key = SigningKey.objects.create(
        environment=environment,
        state=state,
        encrypted_key=crypto.encrypt(key),
        display_prefix=key[: len(f"signkey-{kind}-") + 6],
        bearer_lookup=hashlib.sha256(bearer_hash(key).encode()).hexdigest(),
    )
    return signing_key, key


def signing_key_provision(*, environment: Environment) -> SigningKey:
    """The active key every environment is born with (called inside environment_create)."""
    signing_key, _key = _new_signing_key(environment, SigningKeyState.ACTIVE)
    return signing_key


def _locked_keys(environment: Environment) -> dict[str, SigningKey]:
    return {
        k.state: k for k in SigningKey.objects.select_for_update().filter(environment=environment)
    }


@transaction.atomic
def signing_key_create_next(*, environment: Environment, actor) -> tuple[SigningKey, str]:
    """Step 1 of rotation: a next key to deploy to apps. Returns it and the key in clear."""
    if SigningKeyState.NEXT in _locked_keys(environment):
        raise ValidationError("A next key already exists: promote it or delete it first.")
    signing_key, key = _new_signing_key(environment, SigningKeyState.NEXT)
    _audit(signing_key, actor, "signing_key.created")
    return signing_key, key


@transaction.atomic
def signing_key_promote(*, environment: Environment, actor) -> SigningKey:
    """Step 2: the next key becomes active; the active one becomes the fallback.

    Side effects: both rows change state; an audit entry.
    """
    keys = _locked_keys(environment)
    if SigningKeyState.NEXT not in keys:
        raise ValidationError("There is no next key to promote. Create one first.")
    if SigningKeyState.FALLBACK in keys:
        raise ValidationError("Revoke the current fallback key before promoting another key.")
    now = timezone.now()
    old, new = keys[SigningKeyState.ACTIVE], keys[SigningKeyState.NEXT]
    # Two steps so the (environment, state) uniqueness holds at every statement.
    SigningKey.objects.filter(pk=old.pk).update(
        state=SigningKeyState.FALLBACK, state_changed_at=now
    )
    SigningKey.objects.filter(pk=new.pk).update(state=SigningKeyState.ACTIVE, state_changed_at=now)
    new.state = SigningKeyState.ACTIVE
    _audit(new, actor, "signing_key.promoted", {"fallback": old.display_prefix})
    return new


@transaction.atomic
def signing_key_revoke(*, environment: Environment, actor, public_id: str) -> None:
    """Step 3 (or abort): delete the fallback key, or a next key that was never promoted."""
    signing_key = (
        SigningKey.objects.select_for_update()
        .filter(environment=environment, public_id=public_id)
        .first()
    )
    if signing_key is None:
        raise ValidationError("This key was already revoked.")
    if signing_key.state == SigningKeyState.ACTIVE:
        raise ValidationError("The active key cannot be revoked: rotate to a new key first.")
    signing_key.delete()
    _audit(signing_key, actor, "signing_key.revoked", {"state": signing_key.state})


def signing_key_reveal(*, signing_key: SigningKey, actor) -> str:
    """The key in clear, for an owner/admin who re-authenticated. Side effects: an audit entry."""
    _audit(signing_key, actor, "signing_key.revealed", {"state": signing_key.state})
    return crypto.decrypt(signing_key.encrypted_key)


@transaction.atomic
def signing_keys_reencrypt() -> int:
    """Re-encrypt every signing key with the first ENCRYPTION_KEY (after prepending a new one)."""
    keys = list(SigningKey.objects.select_for_update())
    for signing_key in keys:
        signing_key.encrypted_key = crypto.reencrypt(signing_key.encrypted_key)
        signing_key.save(update_fields=["encrypted_key"])
    return len(keys)
