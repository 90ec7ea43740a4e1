"""An event's `meta`: kept as the sender gave it, but for its two session layers, which are
folded into one the way Inngest folds them at ingest (pkg/event/sessions.go, ResolveSessions).

`meta.sessions` are the sender's own; `meta.propagated_sessions` are stamped by the TS SDK on
events a run sends (step.sendEvent, step.invoke) from the sessions of the run's events, so a
child run stays in its parent's sessions. Only the folded `sessions` is stored and handed on.
"""

# Inngest's limits (pkg/consts: MaxEventSessions, MaxEventSessionKeyLength, ...IDLength).
MAX_SESSIONS = 5
MAX_SESSION_KEY_BYTES = 128
MAX_SESSION_ID_BYTES = 512

SESSION_LAYERS = ("sessions", "propagated_sessions")


def meta_resolve(meta: dict) -> dict:
    """`meta` with its propagated sessions merged into `sessions`, or ValueError saying why not.

    The sender's keys win; a null value cuts that inherited key and a null `sessions` cuts them
    all (RFC 7386, as Go reads it); inherited keys fill the free places up to MAX_SESSIONS in
    UTF-8 byte order, as Go and the SDK both truncate.
    """
    resolved = {key: value for key, value in meta.items() if key not in SESSION_LAYERS}
    inherited = _layer(meta.get("propagated_sessions"), "propagated_sessions", cuts=False)
    manual = meta.get("sessions", {})
    if manual is None:
        manual, inherited = {}, {}
    manual = _layer(manual, "sessions", cuts=True)
    inherited = {key: value for key, value in inherited.items() if key not in manual}
    manual = {key: value for key, value in manual.items() if value is not None}
    room = max(MAX_SESSIONS - len(manual), 0)
    filled = sorted(inherited, key=str.encode)[:room]
    sessions = manual | {key: inherited[key] for key in filled}
    _check(sessions)
    if sessions:
        resolved["sessions"] = sessions
    return resolved


def _layer(value, field: str, *, cuts: bool) -> dict:
    """One session layer as {key: id as a string} (ids may be sent as numbers); with `cuts`,
    None marks a key to cut."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError(f"`meta.{field}` must be an object.")
    layer = {}
    for key, session_id in value.items():
        if session_id is None and cuts:
            layer[key] = None
        elif isinstance(session_id, str):
            layer[key] = session_id
        elif isinstance(session_id, int | float) and not isinstance(session_id, bool):
            layer[key] = str(session_id)
        else:
            raise ValueError(f"the session “{key}” must be a string or a number.")
    return layer


def _check(sessions: dict[str, str]) -> None:
    if len(sessions) > MAX_SESSIONS:
        raise ValueError(f"an event may carry at most {MAX_SESSIONS} sessions.")
    for key, session_id in sessions.items():
        if not key or len(key.encode()) > MAX_SESSION_KEY_BYTES:
            raise ValueError(f"session keys are 1 to {MAX_SESSION_KEY_BYTES} bytes long.")
        if not session_id or len(session_id.encode()) > MAX_SESSION_ID_BYTES:
            raise ValueError(
                f"the session “{key}” needs an id of 1 to {MAX_SESSION_ID_BYTES} bytes."
            )
