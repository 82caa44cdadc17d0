from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, BigInteger, Date, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from tenantcore.db import Base, UTCDateTime, now


class HealthTransition(Base):
    """A domain's grade changed from one check to the next: when, from what to what, and the
    finding codes (warning, error or unknown) that appeared (broke it) or went away (fixed it).
    Written only on a change, so a steady domain writes nothing; at most `KEEP_TRANSITIONS`
    per domain are kept."""

    __tablename__ = "health_transitions"
    __table_args__ = (Index("ix_health_transitions_domain_at", "domain_id", "at"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    domain_id: Mapped[str] = mapped_column(ForeignKey("domains.id", ondelete="CASCADE"))
    account_id: Mapped[str] = mapped_column(String(36))
    mode: Mapped[str] = mapped_column(String(8))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    from_grade: Mapped[str] = mapped_column(String(16))
    to_grade: Mapped[str] = mapped_column(String(16))
    broke: Mapped[list[str]] = mapped_column(JSON, default=list)
    fixed: Mapped[list[str]] = mapped_column(JSON, default=list)


class DomainHealthDay(Base):
    """One domain's day, written with the day's first transition and updated by the next ones
    (a day without a transition has no row: the grade held all day, carried from the last row
    or the domain's grade). Seconds are counted for the closed segments; the open one runs from
    `last_at` in `last_grade` until the day's end (or now, today)."""

    __tablename__ = "domain_health_days"

    domain_id: Mapped[str] = mapped_column(ForeignKey("domains.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True, index=True)
    account_id: Mapped[str] = mapped_column(String(36))
    mode: Mapped[str] = mapped_column(String(8))
    start_grade: Mapped[str] = mapped_column(String(16))  # the grade at 00:00 UTC
    worst_grade: Mapped[str] = mapped_column(String(16))
    last_grade: Mapped[str] = mapped_column(String(16))
    last_at: Mapped[datetime] = mapped_column(UTCDateTime)
    healthy_seconds: Mapped[int] = mapped_column(Integer, default=0)
    problem_seconds: Mapped[int] = mapped_column(Integer, default=0)
    unknown_seconds: Mapped[int] = mapped_column(Integer, default=0)
    transitions: Mapped[int] = mapped_column(Integer, default=0)


class FleetHealthDay(Base):
    """An account's domains in one mode on one day, by health: the worker's latest snapshot
    of that day (refreshed every few minutes; the day's last one stands)."""

    __tablename__ = "fleet_health_days"

    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True)
    mode: Mapped[str] = mapped_column(String(8), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True, index=True)
    domains: Mapped[int] = mapped_column(Integer, default=0)
    healthy: Mapped[int] = mapped_column(Integer, default=0)
    problems: Mapped[int] = mapped_column(Integer, default=0)
    unknown: Mapped[int] = mapped_column(Integer, default=0)
    blocklisted: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
