"""Rules for short free text the API takes and shows again (tenant names, descriptions)."""

from __future__ import annotations

import unicodedata

# Control characters and line or paragraph separators; and the bidi overrides that make text
# read otherwise than it is stored. A no-break space, a zero-width joiner (emoji, Persian) is
# fine. PostgreSQL refuses NUL in text, so this also keeps a 500 out.
_BREAKING = frozenset({"Cc", "Zl", "Zp"})
_BIDI_OVERRIDES = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def is_one_line(value: str) -> bool:
    """True when `value` shows as the one line it is stored as."""
    return not any(unicodedata.category(c) in _BREAKING or c in _BIDI_OVERRIDES for c in value)
