"""Roles, weakest first: each one may do everything the ones before it may."""
from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    VIEWER = "viewer"  # read jobs, invoices and imports
    OPERATOR = "operator"  # also submit, cancel, retry and replay dead letters
    ADMIN = "admin"  # also manage users and tokens

    @property
    def rank(self) -> int:
        return list(Role).index(self)

    def permits(self, required: Role) -> bool:
        """Whether this role may do what `required` may."""
        return self.rank >= required.rank
