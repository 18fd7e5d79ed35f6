"""How long ago, or how long to wait, written for an operator: one wording for the status page and `check`.

Pure text; both the gateway's status page and the CLI's `check` import it, so it lives below both of them.
"""

from __future__ import annotations


def elapsed(seconds: float) -> str:
    """``45 s``, ``12 min``, ``3 h 5 min`` or ``4 days``: seconds up to 1.5 minutes, minutes up to 1.5 hours,
    hours and minutes up to two days (an overnight gap reads to the minute), days beyond."""
    whole = int(seconds)
    if whole < 90:
        return f"{whole} s"
    if whole < 90 * 60:
        return f"{whole // 60} min"
    if whole < 48 * 3600:
        return f"{whole // 3600} h {whole % 3600 // 60} min"
    return f"{whole // 86400} days"
