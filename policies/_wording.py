"""English wording for reports and findings: counts and durations as people write them."""

from __future__ import annotations


def counted(count: int, singular: str, plural: str | None = None) -> str:
    """``1 error``, ``2 errors``: reports are read by people."""
    return f"{count} {singular if count == 1 else plural or singular + 's'}"


def duration(seconds: int) -> str:
    """A duration in the largest whole unit: ``90 days``, ``12 hours``, ``90 seconds``."""
    for size, unit in ((86_400, "day"), (3600, "hour"), (60, "minute")):
        if seconds >= size and seconds % size == 0:
            return counted(seconds // size, unit)
    return counted(seconds, "second")
