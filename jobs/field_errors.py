"""An input refused with the name of the field at fault and why: what a 422 names (webapp/errors.py)."""
from __future__ import annotations


class FieldError(ValueError):
    """Input refused; `field` names what was wrong and `reason` says why."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason
