"""The states of a domain's life (the transitions are in `lifecycle.py`)."""

from __future__ import annotations

from enum import StrEnum


class DomainState(StrEnum):
    """pending ──add in Microsoft──► added ──verify──► verified ──enable DKIM──► dkim_enabled

    `pending` is a reservation: the row holds one of the tenant's slots before Microsoft is
    called, so concurrent adds cannot exceed the limit. It is not listed anywhere."""

    PENDING = "pending"
    ADDED = "added"
    VERIFIED = "verified"
    DKIM_ENABLED = "dkim_enabled"

    @classmethod
    def after_add(cls, is_verified: bool) -> DomainState:
        return cls.VERIFIED if is_verified else cls.ADDED
