"""How pages write durations and ages."""
from __future__ import annotations


def seconds_text(seconds: float | None) -> str:
    """'4.2 s', '42 s', '3 min', '5 h', '2 d'; '—' for None."""
    if seconds is None:
        return "—"
    seconds = max(seconds, 0.0)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size:.0f} {unit}"
    return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"
