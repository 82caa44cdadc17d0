"""Health history wire shapes."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field


class TransitionOut(BaseModel):
    at: datetime
    from_grade: str
    to_grade: str
    broke: list[str] = Field(description="Finding codes (warning, error or unknown) that appeared with this change")
    fixed: list[str] = Field(description="Finding codes that went away with this change")


class DayOut(BaseModel):
    day: date
    worst_grade: str | None = Field(description="The day's worst grade; null: no data (not added or not checked)")
    healthy_seconds: int
    problem_seconds: int
    unknown_seconds: int
    transitions: int


class DomainHistory(BaseModel):
    domain_name: str
    grade: str | None = Field(description="The grade now")
    days: int
    since: date
    transitions: list[TransitionOut] = Field(description="Grade changes in the window, oldest first")
    daily: list[DayOut] = Field(description="One entry per day of the window, oldest first (today so far last)")
    healthy_share: float = Field(description="Share of the observed time in the window the domain was healthy")


class FleetDayOut(BaseModel):
    day: date
    domains: int
    healthy: int
    problems: int
    unknown: int
    blocklisted: int


class FleetHistory(BaseModel):
    days: int
    since: date
    daily: list[FleetDayOut] = Field(description="Days with a snapshot, oldest first")
