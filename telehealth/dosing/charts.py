"""Charts of a course for the prescriber's patient page: blood pressure (before and after each
session), mood (before) and dissociation (after), drawn server-side as inline SVG.

No CDN and no script (the CSP is `default-src 'self'`): plain Python turns the check-ins into
SVG points. Colours are SVG presentation attributes, not inline styles, which the CSP would
block. Each chart carries a `<title>`, a `<desc>` summary and a point-by-point `<title>`, and the
page shows its figures as a table too, for a screen reader.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Iterable, Mapping, Sequence

import sqlalchemy as sa
from markupsafe import Markup, escape
from sqlalchemy.orm import Session

from telehealth.dosing import rules
from telehealth.dosing.models import CheckIn, DoseSession
from telehealth.dosing.rules import Questionnaire, Thresholds

# A narrow drawing: on a phone it is shown about this wide, so its words stay readable.
WIDTH, HEIGHT = 420, 270
LEFT, RIGHT, TOP, BOTTOM = 40, 12, 50, 46
INK, MUTED, GRID = "#1d2a33", "#5b6b75", "#e3e7ea"


@dataclass(frozen=True)
class Reading:
    """One session's answers, for the charts: the first answer to each question."""

    dose_number: int
    when: datetime
    pre: Mapping[str, Any]
    post: Mapping[str, Any]


def readings(session: Session, dose_sessions: Sequence[DoseSession]) -> list[Reading]:
    """The questionnaires' answers of these sessions, in their order; sessions with none are left out."""
    ids = [s.id for s in dose_sessions]
    answers: dict[int, dict[str, dict[str, Any]]] = {i: {"pre": {}, "post": {}} for i in ids}
    prefixes = {Questionnaire.PRE_DOSE.value + ".": "pre", Questionnaire.POST_DOSE.value + ".": "post"}
    if ids:
        rows = session.execute(sa.select(CheckIn.dose_session_id, CheckIn.kind, CheckIn.payload).where(
            CheckIn.dose_session_id.in_(ids),
            sa.or_(*[CheckIn.kind.startswith(prefix) for prefix in prefixes])).order_by(CheckIn.id))
        for session_id, kind, payload in rows:
            for prefix, which in prefixes.items():
                if kind.startswith(prefix):
                    answers[session_id][which].setdefault(kind[len(prefix):], (payload or {}).get("value"))
    return [Reading(s.dose_number, s.dosed_at or s.scheduled_at, answers[s.id]["pre"], answers[s.id]["post"])
            for s in dose_sessions if answers[s.id]["pre"] or answers[s.id]["post"]]


# --- drawing -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Series:
    name: str
    points: list[tuple[int, int]]   # (place on the x axis, value)
    color: str
    dashed: bool = False


@dataclass(frozen=True)
class Chart:
    key: str
    title: str
    summary: str
    svg: Markup
    headers: tuple[str, ...]
    rows: list[tuple[str, ...]] = field(default_factory=list)
    points: int = 0


def _fmt(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _scale(lo: float, hi: float, size: float, offset: float) -> Callable[[float], float]:
    return lambda value: offset + size * (value - lo) / (hi - lo)


def draw(key: str, title: str, summary: str, x_labels: Sequence[tuple[str, str]], series: Sequence[Series], *,
         y_range: tuple[int, int], y_step: int, unit: str,
         references: Iterable[tuple[int, str]] = ()) -> Markup:
    """A line chart: `x_labels` (a label and a second line) are the places on the x axis."""
    lo, hi = y_range
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    count = max(len(x_labels), 1)
    inset = 18   # the first and last sessions' labels stay inside the drawing
    x_of = (lambda i: LEFT + plot_w / 2) if count == 1 else _scale(0, count - 1, plot_w - 2 * inset, LEFT + inset)
    to_y = _scale(hi, lo, plot_h, TOP)
    e = escape
    out = [f'<svg class="chart" id="chart-{e(key)}" viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" role="img" '
           f'aria-labelledby="chart-{e(key)}-title chart-{e(key)}-desc" font-family="system-ui, sans-serif">',
           f'<title id="chart-{e(key)}-title">{e(title)}</title>',
           f'<desc id="chart-{e(key)}-desc">{e(summary)}</desc>']
    for value in range(lo, hi + 1, y_step):   # grid and the y axis
        y = _fmt(to_y(value))
        out.append(f'<line x1="{LEFT}" y1="{y}" x2="{WIDTH - RIGHT}" y2="{y}" stroke="{GRID}"/>')
        out.append(f'<text x="{LEFT - 6}" y="{y}" dy="4" text-anchor="end" font-size="11" fill="{MUTED}">'
                   f'{value}</text>')
    out.append(f'<text transform="rotate(-90)" x="{-(TOP + plot_h / 2):.0f}" y="10" text-anchor="middle" '
               f'font-size="11" fill="{MUTED}">{e(unit)}</text>')
    for value, label in references:           # thresholds, dashed
        y = _fmt(to_y(value))
        out.append(f'<line class="reference" x1="{LEFT}" y1="{y}" x2="{WIDTH - RIGHT}" y2="{y}" stroke="{MUTED}" '
                   f'stroke-dasharray="2 4"/>')
        out.append(f'<text x="{WIDTH - RIGHT}" y="{y}" dy="-3" text-anchor="end" font-size="10" '
                   f'fill="{MUTED}">{e(label)}</text>')
    baseline = HEIGHT - BOTTOM
    out.append(f'<line x1="{LEFT}" y1="{baseline}" x2="{WIDTH - RIGHT}" y2="{baseline}" stroke="{MUTED}"/>')
    for i, (label, second) in enumerate(x_labels):   # the x axis: one place per session
        x = _fmt(x_of(i))
        out.append(f'<text x="{x}" y="{baseline + 16}" text-anchor="middle" font-size="11" fill="{INK}">'
                   f'{e(label)}</text>')
        out.append(f'<text x="{x}" y="{baseline + 30}" text-anchor="middle" font-size="10" fill="{MUTED}">'
                   f'{e(second)}</text>')
    out.append(f'<text x="{LEFT + plot_w / 2:.0f}" y="{HEIGHT - 4}" text-anchor="middle" font-size="11" '
               f'fill="{MUTED}">Session</text>')
    for n, s in enumerate(series):             # the legend, above the plot: two to a row
        dash = ' stroke-dasharray="6 3"' if s.dashed else ""
        legend_x, legend_y = LEFT + (n % 2) * (plot_w / 2), 12 + 16 * (n // 2)
        out.append(f'<line x1="{_fmt(legend_x)}" y1="{legend_y}" x2="{_fmt(legend_x + 18)}" y2="{legend_y}" '
                   f'stroke="{s.color}" stroke-width="2"{dash}/>')
        out.append(f'<text x="{_fmt(legend_x + 22)}" y="{legend_y + 4}" font-size="12" fill="{INK}">{e(s.name)}</text>')
    for s in series:                           # the lines and their points
        dash = ' stroke-dasharray="6 3"' if s.dashed else ""
        coordinates = [(x_of(i), to_y(min(max(v, lo), hi)), i, v) for i, v in s.points]
        if len(coordinates) > 1:
            joined = " ".join(f"{_fmt(x)},{_fmt(y)}" for x, y, _, _ in coordinates)
            out.append(f'<polyline fill="none" stroke="{s.color}" stroke-width="2"{dash} points="{joined}"/>')
        for x, y, i, v in coordinates:
            out.append(f'<circle class="point" cx="{_fmt(x)}" cy="{_fmt(y)}" r="4" fill="{s.color}">'
                       f'<title>{e(x_labels[i][0])}: {e(s.name)} {v}</title></circle>')
    out.append("</svg>")
    return Markup("".join(out))


def _bounds(values: Iterable[int], lo: int, hi: int, step: int) -> tuple[int, int]:
    found = list(values)
    if not found:
        return lo, hi
    return min(lo, math.floor(min(found) / step) * step), max(hi, math.ceil(max(found) / step) * step)


def _summary(series: Sequence[Series], x_labels: Sequence[tuple[str, str]]) -> str:
    parts = []
    for s in series:
        if s.points:
            values = [v for _, v in s.points]
            last_i, last_v = s.points[-1]
            parts.append(f"{s.name}: {len(values)} readings from {min(values)} to {max(values)}, "
                         f"latest {last_v} ({x_labels[last_i][0]})")
    return "; ".join(parts) + "." if parts else "No readings yet."


# --- the course's three charts --------------------------------------------------------------

def course_charts(found: Sequence[Reading], thresholds: Thresholds, zone: str) -> list[Chart]:
    """Blood pressure, mood and dissociation over the course; empty when nothing was answered yet."""
    if not found:
        return []
    x_labels = [(f"#{r.dose_number}", rules.to_local(r.when, zone).strftime("%d %b")) for r in found]

    def points(which: str, key: str, part: int | None = None) -> list[tuple[int, int]]:
        got = []
        for i, reading in enumerate(found):
            answers = reading.pre if which == "pre" else reading.post
            value = rules.deciding_pressure(answers) if key == "bp" else answers.get(key)
            if value is not None:
                got.append((i, value[part] if part is not None else value))
        return got

    pressure = [Series("systolic before", points("pre", "bp", 0), "#1f6f8b"),
                Series("diastolic before", points("pre", "bp", 1), "#7fb3c6"),
                Series("systolic after", points("post", "bp", 0), "#a4262c", dashed=True),
                Series("diastolic after", points("post", "bp", 1), "#d98a8e", dashed=True)]
    mood = [Series("mood before", points("pre", "mood"), "#1e6b34")]
    dissociation = [Series("dissociation after", points("post", "dissociation"), "#6b4e00")]
    bp_range = _bounds((v for s in pressure for _, v in s.points), 40, 200, 20)
    specs = [
        ("blood-pressure", "Blood pressure before and after each session (mmHg)", pressure, bp_range, 20, "mmHg",
         [(thresholds.bp_hold_systolic, f"hold {thresholds.bp_hold_systolic}"),
          (thresholds.bp_hold_diastolic, f"hold {thresholds.bp_hold_diastolic}")]),
        ("mood", "Mood before each session (0 to 10)", mood, (0, 10), 2, "mood", []),
        ("dissociation", "Dissociation or confusion after each session (0 to 10)", dissociation, (0, 10), 2,
         "score", [(thresholds.dissociation_moderate_at, f"alert at {thresholds.dissociation_moderate_at}")]),
    ]
    charts = []
    for key, title, series, y_range, step, unit, references in specs:
        summary = _summary(series, x_labels)
        by_place = [{s.name: v for s in series for i2, v in s.points if i2 == i} for i in range(len(found))]
        rows = [(f"{label} ({second})", *[str(by_place[i].get(s.name, "—")) for s in series])
                for i, (label, second) in enumerate(x_labels)]
        charts.append(Chart(key, title, summary,
                            draw(key, title, summary, x_labels, series, y_range=y_range, y_step=step, unit=unit,
                                 references=references),
                            ("Session", *[s.name for s in series]), rows,
                            points=sum(len(s.points) for s in series)))
    return charts
