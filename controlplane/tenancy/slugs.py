"""Slugs for organizations and environments, which appear in dashboard URLs."""

from django.core.exceptions import ValidationError
from django.utils.text import slugify

# First path segments the server itself uses; an organization named like one would be
# shadowed by it. tests/test_urls.py checks every top-level route is listed here.
RESERVED_ORGANIZATION_SLUGS = frozenset(
    {
        "account",
        "admin",
        "api",
        "dev",
        "e",
        "fn",
        "health",
        "invite",
        "metrics",
        "orgs",
        "setup",
        "static",
        "v0",
        "v1",
        "ws",
    }
)
# Second path segments used by organization-level pages.
RESERVED_ENVIRONMENT_SLUGS = frozenset({"settings"})


def unique_slug(name: str, *, taken, reserved: frozenset[str], fallback: str) -> str:
    """A slug from `name`, suffixed -2, -3, ... until `taken(slug)` is false."""
    base = slugify(name)[:40].strip("-") or fallback
    slug, n = base, 1
    while slug in reserved or taken(slug):
        n += 1
        slug = f"{base}-{n}"
    return slug


def validate_slug(slug: str, *, reserved: frozenset[str]) -> None:
    if slug != slugify(slug) or not slug:
        raise ValidationError("Use lowercase letters, digits and hyphens.")
    if slug in reserved:
        raise ValidationError(f"“{slug}” is reserved; choose another.")
