"""The monitor's clock: every check takes ``now`` (a timezone-aware datetime) so tests can move it; times are kept
as ISO 8601 UTC text (``…Z``) in the catalogue and the events."""

from __future__ import annotations

from datetime import datetime, timezone


def utc_now(now: datetime | None) -> datetime:
    """``now`` in UTC to the second (naive times taken as UTC); the real time when None."""
    now = now or datetime.now(timezone.utc)
    if now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)
    return now.astimezone(timezone.utc).replace(microsecond=0)


def iso(t: datetime) -> str:
    """A time as the catalogue keeps it: ISO 8601 UTC to the second, with a ``Z``."""
    return t.astimezone(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def parse_time(text: str | None) -> datetime | None:
    """A stored time (``YYYY-MM-DD`` or ISO 8601) as a UTC datetime; None when empty or unreadable."""
    if not text:
        return None
    text = text.strip()
    try:
        if len(text) == 10:  # YYYY-MM-DD
            return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=timezone.utc)
        return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc)
    except ValueError:
        return None
