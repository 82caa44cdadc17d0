"""The states of a domain's life (the transitions are in `lifecycle.py`)."""

from __future__ import annotations

from enum import StrEnum


class DomainState(StrEnum):
    """pending ──add in Microsoft──► added ──verify──► verified ──enable DKIM──► dkim_enabled
                                       └──────────────┴──── delete ───► removing ──► (gone)

    `pending` is a reservation: the row holds one of the tenant's slots before Microsoft is
    called, so concurrent adds cannot exceed the limit. `removing` is a delete in progress: the
    row stays (so a sync reading Microsoft's list meanwhile does not adopt the name back) until
    Microsoft has let the domain go. Neither is listed anywhere."""

    PENDING = "pending"
    ADDED = "added"
    VERIFIED = "verified"
    DKIM_ENABLED = "dkim_enabled"
    REMOVING = "removing"

    @classmethod
    def after_add(cls, is_verified: bool) -> DomainState:
        return cls.VERIFIED if is_verified else cls.ADDED

    @classmethod
    def of(cls, is_verified: bool, dkim_enabled: bool) -> DomainState:
        """The state a domain's flags say it is in (where a delete that failed returns it)."""
        return cls.DKIM_ENABLED if dkim_enabled else cls.after_add(is_verified)


# The states of a domain that exists for the operator: listed, checked, counted.
LISTED = (DomainState.ADDED, DomainState.VERIFIED, DomainState.DKIM_ENABLED)
