"""Health history as chart geometry: Python works out every rectangle, marker and label, and
`templates/_charts.html` draws them as inline SVG (no JavaScript, nothing from a CDN), each
chart with a <title>, a <desc> and a table beside it for screen readers and text browsers."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from tenantcore.db import now
from tenantcore.history.record import grade_class
from tenantcore.history.schemas import DomainHistory, FleetHistory

WIDTH, HEIGHT, LEFT, TOP, BOTTOM = 720, 150, 40, 16, 24
PLOT_W, PLOT_H = WIDTH - LEFT - 8, HEIGHT - TOP - BOTTOM
CLASS_NAMES = {"healthy": "healthy", "problem": "problems", "unknown": "unknown"}


@dataclass
class Rect:
    x: float
    y: float
    w: float
    h: float
    cls: str


@dataclass
class Column:
    """One day: its stacked parts and what a pointer over it says."""

    label: str
    rects: list[Rect]


@dataclass
class Marker:
    x: float
    cls: str  # broke (worse), fixed (better) or moved
    label: str


@dataclass
class Tick:
    x: float
    y: float
    label: str


@dataclass
class Chart:
    title: str
    desc: str
    columns: list[Column] = field(default_factory=list)
    markers: list[Marker] = field(default_factory=list)
    xticks: list[Tick] = field(default_factory=list)
    yticks: list[Tick] = field(default_factory=list)
    line: str = ""  # polyline points (fleet: blocklisted)
    dots: list[Tick] = field(default_factory=list)
    width: int = WIDTH
    height: int = HEIGHT


def _percent(part: float, whole: float) -> str:
    return f"{round(100 * part / whole)}%" if whole else "0%"


def _xticks(first: datetime, count: int, step: float) -> list[Tick]:
    picks = sorted({0, count // 2, count - 1})
    return [Tick(LEFT + i * step + step / 2, HEIGHT - 6, (first + timedelta(days=i)).strftime("%b %d")) for i in picks]


def domain_timeline(history: DomainHistory) -> Chart:
    """One column a day, split by the share of time healthy, with problems and unknown (days
    without data are left as a thin grey line); a marker at each transition."""
    days = history.daily
    step = PLOT_W / max(1, len(days))
    healthy = round(100 * history.healthy_share)
    broke = [t for t in history.transitions if t.broke]
    desc = (
        f"{history.domain_name} was healthy {healthy}% of the observed time in the last {history.days} days, "
        f"with {len(history.transitions)} grade change{'' if len(history.transitions) == 1 else 's'}."
    )
    if broke:
        last = broke[-1]
        desc += (
            f" Last broken on {last.at:%Y-%m-%d %H:%M} UTC ({last.from_grade} to {last.to_grade}) by "
            f"{', '.join(last.broke)}."
        )
    chart = Chart(f"Health of {history.domain_name} over the last {history.days} days", desc)
    for i, d in enumerate(days):
        x, w = LEFT + i * step + 0.5, max(1.0, step - 1)
        total = d.healthy_seconds + d.problem_seconds + d.unknown_seconds
        if not total:
            chart.columns.append(Column(f"{d.day}: no data", [Rect(x, TOP + PLOT_H - 2, w, 2, "nodata")]))
            continue
        rects, y = [], TOP + PLOT_H
        parts = [(c, getattr(d, f"{c}_seconds")) for c in ("healthy", "unknown", "problem")]
        for cls, seconds in parts:
            if seconds:
                h = PLOT_H * seconds / total
                y -= h
                rects.append(Rect(x, y, w, h, cls))
        shares = ", ".join(f"{CLASS_NAMES[c]} {_percent(s, total)}" for c, s in parts if s)
        changes = f", {d.transitions} change{'' if d.transitions == 1 else 's'}" if d.transitions else ""
        chart.columns.append(Column(f"{d.day}: worst {d.worst_grade}; {shares}{changes}", rects))
    start = datetime.combine(history.since, datetime.min.time(), tzinfo=now().tzinfo)
    span = len(days) * 86400
    for t in history.transitions:
        x = LEFT + PLOT_W * min(1.0, max(0.0, (t.at - start).total_seconds() / span))
        old, new = grade_class(t.from_grade), grade_class(t.to_grade)
        if old == new:  # info → ok, warning → error: a move within the same class
            cls = "moved"
        else:
            cls = "fixed" if new == "healthy" else "broke" if new == "problem" or old == "healthy" else "moved"
        why = f": broke by {', '.join(t.broke)}" if t.broke else ""
        why += f"; fixed {', '.join(t.fixed)}" if t.fixed else ""
        chart.markers.append(Marker(round(x, 1), cls, f"{t.at:%Y-%m-%d %H:%M} UTC: {t.from_grade} → {t.to_grade}{why}"))
    chart.xticks = _xticks(start, len(days), step)
    chart.yticks = [Tick(LEFT - 4, TOP + 4, "100%"), Tick(LEFT - 4, TOP + PLOT_H, "0%")]
    return chart


def fleet_chart(history: FleetHistory) -> Chart:
    """One stacked column a day (healthy, unknown, problems: the day's last snapshot) and the
    blocklisted count as a line, on one axis of domain counts."""
    count = history.days
    step = PLOT_W / max(1, count)
    by_day = {d.day: d for d in history.daily}
    top = max([d.domains for d in history.daily] + [d.blocklisted for d in history.daily] + [1])
    latest = history.daily[-1] if history.daily else None
    if latest is None:
        desc = f"No fleet snapshot in the last {count} days yet (the reconciler takes one every few minutes)."
    else:
        desc = (
            f"On {latest.day}: {latest.domains} domains, {latest.healthy} healthy, {latest.problems} with problems, "
            f"{latest.unknown} unknown or awaiting DNS, {latest.blocklisted} blocklisted; "
            f"over the last {count} days problems peaked at {max(d.problems for d in history.daily)}."
        )
    chart = Chart(f"Fleet health over the last {count} days", desc)
    start = datetime.combine(history.since, datetime.min.time(), tzinfo=now().tzinfo)
    points: list[str] = []
    for i in range(count):
        day = history.since + timedelta(days=i)
        d = by_day.get(day)
        if d is None:
            continue
        x, w = LEFT + i * step + 0.5, max(1.0, step - 1)
        rects, y = [], float(TOP + PLOT_H)
        for cls, n in (("healthy", d.healthy), ("unknown", d.unknown), ("problem", d.problems)):
            if n:
                h = PLOT_H * n / top
                y -= h
                rects.append(Rect(x, y, w, h, cls))
        chart.columns.append(
            Column(
                f"{day}: {d.healthy} healthy, {d.problems} with problems, {d.unknown} unknown or awaiting DNS, "
                f"{d.blocklisted} blocklisted",
                rects,
            )
        )
        cx, cy = round(x + w / 2, 1), round(TOP + PLOT_H - PLOT_H * d.blocklisted / top, 1)
        points.append(f"{cx},{cy}")
        chart.dots.append(Tick(cx, cy, f"{day}: {d.blocklisted} blocklisted"))
    chart.line = " ".join(points)
    chart.xticks = _xticks(start, count, step)
    chart.yticks = [Tick(LEFT - 4, TOP + 4, str(top)), Tick(LEFT - 4, TOP + PLOT_H, "0")]
    return chart
