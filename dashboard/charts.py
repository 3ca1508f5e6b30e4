"""Altair charts for the dashboard, built from small frames; no Streamlit, no file access.

Altair (over hand-written Vega-Lite JSON) because it validates the spec as it is built; Streamlit
renders the result with its bundled Vega-Lite, so nothing is fetched from a CDN (offline-safe,
unlike `dvc plots show` HTML). Metric charts share one y scale [0, 1] and draw the gate as a red
dashed rule at each configured floor, labelled with its value.
"""

from __future__ import annotations

import altair as alt
import pandas as pd

GATE_COLOR = "#d62728"
UNIT = alt.Scale(domain=[0, 1])
# Streamlit draws small charts as SVG unless told otherwise; canvas is Vega's own default, stays
# fast with thousands of marks (predictions, raw volumes), and is what the browser test waits for.
CANVAS = {"embedOptions": {"renderer": "canvas"}}


def gate_rules(floors: dict[str, float]) -> alt.Chart:
    """One dashed red horizontal rule per distinct floor value, named in the legend
    (`gate 0.70`, or `gate 0.80 (bleu)` when the floors differ per metric)."""
    rows = []
    for value in sorted(set(floors.values())):
        names = [m for m, v in floors.items() if v == value]
        who = "" if len(names) == len(floors) else f" ({', '.join(names)})"
        rows.append({"floor": value, "label": f"gate {value:.2f}{who}"})
    data = alt.InlineData(values=rows)  # inline: the floor travels inside the chart spec
    return (
        alt.Chart(data)
        .mark_rule(strokeDash=[6, 4], size=2)
        .encode(
            y=alt.Y("floor:Q", scale=UNIT),
            color=alt.Color(
                "label:N",
                scale=alt.Scale(range=[GATE_COLOR] * len(rows)),
                legend=alt.Legend(title=None, orient="bottom"),
            ),
            tooltip=["label:N"],
        )
    )


def _with_gate(chart: alt.Chart | alt.LayerChart, floors: dict[str, float], height: int):
    """`chart` with the gate rules on top; the gate gets its own colour scale and legend."""
    layered = alt.layer(chart, gate_rules(floors)).resolve_scale(color="independent")
    return layered.properties(height=height, usermeta=CANVAS)


def metrics_vs_floor(values: dict[str, float], floors: dict[str, float]) -> alt.LayerChart:
    """Bars of one adapter's metrics, green when at or above its floor (an ungated metric always
    is), with the gate line."""
    frame = pd.DataFrame(
        [{"metric": m, "value": v, "passes": v >= floors.get(m, 0.0)} for m, v in values.items()]
    )
    bars = (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X("metric:N", sort=list(values), title=None, axis=alt.Axis(labelAngle=0)),
            y=alt.Y("value:Q", scale=UNIT, title="score"),
            color=alt.Color(
                "passes:N",
                scale=alt.Scale(domain=[True, False], range=["#2ca02c", "#ff7f0e"]),
                legend=alt.Legend(title="reaches floor", orient="bottom"),
            ),
            tooltip=["metric", alt.Tooltip("value:Q", format=".3f")],
        )
    )
    return _with_gate(bars, floors, 260)


def compare(frame: pd.DataFrame, floors: dict[str, float]) -> alt.LayerChart:
    """Grouped bars: `frame` has columns model (candidate/champion/zero-shot), metric, value."""
    bars = (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X("metric:N", title=None, sort=None, axis=alt.Axis(labelAngle=0)),
            xOffset=alt.XOffset("model:N", sort=["candidate", "champion", "zero-shot"]),
            y=alt.Y("value:Q", scale=UNIT, title="score"),
            color=alt.Color(
                "model:N",
                scale=alt.Scale(
                    domain=["candidate", "champion", "zero-shot"],
                    range=["#1f77b4", "#2ca02c", "#9e9e9e"],  # no red: red is the gate
                ),
            ),
            tooltip=["model", "metric", alt.Tooltip("value:Q", format=".3f")],
        )
    )
    return _with_gate(bars, floors, 280)


def metric_trend(
    history: pd.DataFrame, metrics: list[str], floors: dict[str, float]
) -> alt.LayerChart:
    """Each registered version's `metrics` over time (points shaped by status) plus the gate."""
    long = history.melt(
        id_vars=["version", "status", "created_at"],
        value_vars=metrics,
        var_name="metric",
        value_name="value",
    ).dropna(subset=["value", "created_at"])
    base = alt.Chart(long).encode(
        x=alt.X("created_at:T", title="registered"),
        y=alt.Y("value:Q", scale=UNIT, title="score"),
        color=alt.Color("metric:N", scale=alt.Scale(range=["#1f77b4", "#ff7f0e", "#9467bd"])),
    )
    lines = base.mark_line() + base.mark_point(filled=True, size=70).encode(
        shape="status:N",
        tooltip=["version", "status", "metric", alt.Tooltip("value:Q", format=".3f")],
    )
    return _with_gate(lines, floors, 300)


def loss_curve(loss: pd.DataFrame) -> alt.Chart:
    """Training loss per optimizer step."""
    return (
        alt.Chart(loss)
        .mark_line(point=len(loss) <= 60)
        .encode(
            x=alt.X("step:Q", title="optimizer step", axis=alt.Axis(tickMinStep=1, format="d")),
            y=alt.Y("loss:Q", title="loss", scale=alt.Scale(zero=False)),
            tooltip=[c for c in ("step", "epoch", "loss", "learning_rate") if c in loss],
        )
        .properties(height=280, usermeta=CANVAS)
    )


def field_accuracy(frame: pd.DataFrame) -> alt.LayerChart:
    """Per-field accuracy bars with 95% interval whiskers; columns field, accuracy, lo, hi."""
    base = alt.Chart(frame).encode(x=alt.X("field:N", title=None, axis=alt.Axis(labelAngle=0)))
    bars = base.mark_bar().encode(
        y=alt.Y("accuracy:Q", scale=UNIT, title="accuracy"),
        tooltip=["field", "accuracy", "lo", "hi"],
    )
    whiskers = base.mark_rule(color="black", strokeWidth=2).encode(y="lo:Q", y2="hi:Q")
    return (bars + whiskers).properties(height=240, usermeta=CANVAS)


def confusion(labels: list[str], matrix: list[list[int]]) -> alt.LayerChart:
    """Reference (rows) vs predicted (columns) counts as a heatmap with the counts written in."""
    cells = [
        {"reference": labels[i], "predicted": labels[j], "count": int(n)}
        for i, row in enumerate(matrix)
        for j, n in enumerate(row)
    ]
    base = alt.Chart(pd.DataFrame(cells)).encode(
        x=alt.X("predicted:N", sort=labels, axis=alt.Axis(labelAngle=0, orient="top")),
        y=alt.Y("reference:N", sort=labels),
    )
    heat = base.mark_rect().encode(
        color=alt.Color("count:Q", scale=alt.Scale(scheme="blues"), legend=None),
        tooltip=["reference", "predicted", "count"],
    )
    counts = base.mark_text(baseline="middle", fontSize=13).encode(
        text="count:Q",
        color=alt.condition(alt.datum.count > 0, alt.value("white"), alt.value("#555")),
    )
    return (heat + counts).properties(height=alt.Step(34), usermeta=CANVAS)


def stacked_counts(frame: pd.DataFrame, x: str, color: str, count: str = "n") -> alt.Chart:
    """Horizontal stacked bars of `count` per `x`, split by `color` (labels, provenance)."""
    return (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            y=alt.Y(f"{x}:N", title=None, sort="-x"),
            x=alt.X(f"{count}:Q", title="examples"),
            color=f"{color}:N",
            tooltip=[x, color, count],
        )
        .properties(usermeta=CANVAS)
    )


def histogram(edges: list[float], counts: list[int], title: str) -> alt.Chart:
    """Bars from pre-binned counts (`edges` has one more value than `counts`)."""
    frame = pd.DataFrame({"lo": edges[:-1], "hi": edges[1:], "n": counts})
    return (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X("lo:Q", bin="binned", title=title),
            x2="hi:Q",
            y=alt.Y("n:Q", title="examples"),
            tooltip=["lo", "hi", "n"],
        )
        .properties(height=220, usermeta=CANVAS)
    )


def volume(frame: pd.DataFrame) -> alt.Chart:
    """Raw items per week of creation, stacked by source."""
    return (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X("yearweek(week):T", title="week created"),  # a bar spans its week
            y=alt.Y("items:Q", title="items"),
            color="source:N",
            tooltip=["source", alt.Tooltip("week:T"), "items"],
        )
        .properties(height=260, usermeta=CANVAS)
    )


def experiment_metric(frame: pd.DataFrame, title: str, floor: float | None) -> alt.Chart:
    """One metric across DVC experiments; `frame` has columns experiment, value. The gate line
    is drawn when the metric is a gate metric (`floor` not None)."""
    scale = UNIT if floor is not None else alt.Undefined
    bars = (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X("experiment:N", sort=None, title=None, axis=alt.Axis(labelAngle=-30)),
            y=alt.Y("value:Q", title=title, scale=scale),
            tooltip=["experiment", alt.Tooltip("value:Q", format=".4g")],
        )
    )
    if floor is None:
        return bars.properties(height=320, usermeta=CANVAS)
    return _with_gate(bars, {title: floor}, 320)
