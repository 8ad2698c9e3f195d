"""Charts drawn on the server as SVG (Altair builds the Vega-Lite spec, vl-convert renders it with the
Vega it bundles), so a page carries its charts inline: no script, no fetch, and the static report works
from disk."""

from __future__ import annotations

import json
from dataclasses import dataclass

import altair as alt
import vl_convert

WIDTH = 440
HEIGHT = 170
LINE_COLOUR = "#1f5f8b"
SUPPRESSED_COLOUR = "#8a8a8a"


@dataclass(frozen=True)
class Point:
    period: str
    value: float | None  # None where the cell is suppressed
    is_suppressed: bool


def trend_svg(title: str, points: list[Point], is_count: bool) -> str:
    """A line over the periods; a suppressed period is a gap in the line marked "suppressed", so it
    never reads as zero."""
    if not points:
        return ""
    data = alt.Data(
        values=[{"period": p.period, "value": p.value, "suppressed": p.is_suppressed} for p in points]
    )
    periods = [p.period for p in points]
    base = alt.Chart(data).encode(
        x=alt.X("period:O", sort=periods, title=None, axis=alt.Axis(labelAngle=-45))
    )
    y_axis = alt.Axis(format=",d" if is_count else ".0%", title=None, tickCount=5)
    y_scale = alt.Scale(zero=True) if is_count else alt.Scale(domain=[0, 1])
    line = base.mark_line(point=True, color=LINE_COLOUR, invalid="break-paths-show-domains").encode(
        y=alt.Y("value:Q", axis=y_axis, scale=y_scale)
    )
    suppressed = base.transform_filter("datum.suppressed")
    rules = suppressed.mark_rule(strokeDash=[4, 3], color=SUPPRESSED_COLOUR)
    labels = suppressed.mark_text(
        angle=270, dy=-6, color=SUPPRESSED_COLOUR, fontSize=10, text="suppressed"
    ).encode(y=alt.value(HEIGHT / 2))
    chart = (line + rules + labels).properties(width=WIDTH, height=HEIGHT, description=f"{title}, by quarter")
    return render_svg(chart.to_dict())


def render_svg(spec: dict) -> str:
    # A spec round-trips through JSON text so that dates and numpy numbers cannot reach the renderer.
    return vl_convert.vegalite_to_svg(json.loads(json.dumps(spec, default=str)))
