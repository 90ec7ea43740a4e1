"""Wildcard event triggers, as Inngest matches them: `app/*` matches every event whose name
starts with `app/`, `app/user.*` every one that starts with `app/user.`. A `*` is a wildcard
only as the last character, right after a `/` or a `.`.

Matching is by equality, so the trigger index needs no scan: an event name is expanded into
the trigger patterns it satisfies (itself, plus `<prefix>*` for each prefix of it that ends in
a delimiter) and triggers are looked up by those.
"""

DELIMITERS = "/."
WILDCARD_ENDINGS = ("/*", ".*")


def trigger_patterns(event_name: str) -> list[str]:
    """The trigger event names that match an event of this name, once each (an event named
    "app/*" is its own wildcard).

    "app/user.created" -> ["app/user.created", "app/*", "app/user.*"].
    """
    prefixes = [event_name[: i + 1] for i, char in enumerate(event_name) if char in DELIMITERS]
    return list(dict.fromkeys([event_name, *(f"{prefix}*" for prefix in prefixes)]))


def wildcard_prefix(pattern: str) -> str:
    """What the names a wildcard trigger matches start with ("app/" for "app/*"); "" for a
    trigger without a valid wildcard."""
    if pattern.count("*") == 1 and pattern.endswith(WILDCARD_ENDINGS):
        return pattern[:-1]
    return ""


def trigger_pattern_errors(pattern: str) -> list[str]:
    """Why a trigger's event name is no pattern Inngest would match as a wildcard: any other
    `*` is taken literally there and fires for no event, so it is refused at sync instead."""
    if "*" not in pattern or wildcard_prefix(pattern):
        return []
    return [
        f"event {pattern!r} is not a valid wildcard: a * may only end the name, right after "
        "a / or a . (like 'app/*' or 'app/user.*')"
    ]
