from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from tenantcore.db import Base, UTCDateTime, now


class IdempotencyRecord(Base):
    """One POST made with an `Idempotency-Key`: what it was (a fingerprint of method, path and
    body), whether it is still running, and the response to give again."""

    __tablename__ = "idempotency_keys"

    scope: Mapped[str] = mapped_column(String(64), primary_key=True)  # whose: a digest of the API key
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    running_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)  # None: done
    status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    headers: Mapped[list[list[str]]] = mapped_column(JSON, default=list)
    # Sealed (tenantcore.sealing): a response may hold a secret shown once (a new API key, a
    # webhook signing secret), and it must not sit in the database in clear.
    body: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now, index=True)

    def response_headers(self) -> list[tuple[bytes, bytes]]:
        return [(k.encode("latin-1"), v.encode("latin-1")) for k, v in self.headers]

    @staticmethod
    def kept_headers(raw: list[tuple[bytes, bytes]]) -> list[list[str]]:
        # The request id is per request, and the length is set again on replay.
        skip = {b"x-request-id", b"content-length", b"set-cookie"}
        return [[k.decode("latin-1"), v.decode("latin-1")] for k, v in raw if k.lower() not in skip]

    def __repr__(self) -> str:  # no body: it may hold a secret shown once
        return f"IdempotencyRecord(key={self.key!r}, status={self.status})"
