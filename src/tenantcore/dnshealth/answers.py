"""What one DNS query came back with: the outcome, kept apart (NXDOMAIN, no data, SERVFAIL,
timeout ...), and the values a check reads."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Outcome(StrEnum):
    OK = "ok"
    NXDOMAIN = "nxdomain"
    NODATA = "nodata"
    SERVFAIL = "servfail"
    TIMEOUT = "timeout"
    REFUSED = "refused"
    UNREACHABLE = "unreachable"
    ERROR = "error"


# The outcomes that are DNS's verdict; any other means "unknown", never "missing".
_DEFINITE = (Outcome.OK, Outcome.NXDOMAIN, Outcome.NODATA)


@dataclass(frozen=True, slots=True)
class Answer:
    """The outcome of one query. `values` holds TXT texts, CNAME targets or MX hosts (lower
    case, no trailing dot); `mx` keeps MX preferences; `alias` is set when the name turned out
    to be a CNAME while another type was asked for."""

    name: str
    rtype: str
    outcome: Outcome
    values: tuple[str, ...] = ()
    mx: tuple[tuple[int, str], ...] = ()
    alias: str | None = None
    detail: str = ""

    @property
    def definite(self) -> bool:
        return self.outcome in _DEFINITE

    @property
    def found(self) -> bool:
        return self.outcome is Outcome.OK and bool(self.values)

    @property
    def absent(self) -> bool:
        """Definitely not there: NXDOMAIN, or the name exists without this type."""
        return self.outcome in (Outcome.NXDOMAIN, Outcome.NODATA) or (self.outcome is Outcome.OK and not self.values)
