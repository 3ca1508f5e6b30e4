"""dashboard/charts.py: the gate line sits at each floor and every chart draws on a canvas."""

from __future__ import annotations

import pandas as pd

from dashboard import charts

FLOORS = {"structural": 0.7, "content": 0.7, "bleu": 0.5}


def _values(chart, field: str) -> list:
    """`field` of every data row the chart spec carries (Altair gathers them under datasets)."""
    datasets = chart.to_dict()["datasets"].values()
    return [row[field] for rows in datasets for row in rows if field in row]


def test_one_labelled_gate_line_per_distinct_floor():
    rules = charts.gate_rules(FLOORS)
    assert sorted(_values(rules, "floor")) == [0.5, 0.7]
    assert sorted(_values(rules, "label")) == [
        "gate 0.50 (bleu)",
        "gate 0.70 (structural, content)",
    ]
    assert _values(charts.gate_rules({"bleu": 0.7, "content": 0.7}), "label") == ["gate 0.70"]


def test_bars_below_their_own_floor_are_marked_failing():
    chart = charts.metrics_vs_floor({"structural": 0.72, "content": 0.69, "bleu": 0.55}, FLOORS)
    bars = chart.layer[0].data
    assert dict(zip(bars["metric"], bars["passes"], strict=True)) == {
        "structural": True,
        "content": False,
        "bleu": True,
    }


def test_every_chart_asks_streamlit_for_the_canvas_renderer():
    history = pd.DataFrame(
        {
            "version": ["v1"],
            "status": ["champion"],
            "created_at": [pd.Timestamp("2026-11-01")],
            "structural": [0.8],
            "content": [0.7],
            "bleu": [0.6],
        }
    )
    made = [
        charts.metrics_vs_floor({"structural": 0.8}, FLOORS),
        charts.compare(
            pd.DataFrame({"model": ["candidate"], "metric": ["bleu"], "value": [0.5]}), FLOORS
        ),
        charts.metric_trend(history, ["structural", "content", "bleu"], FLOORS),
        charts.loss_curve(pd.DataFrame({"step": [1, 2], "loss": [2.0, 1.0]})),
        charts.field_accuracy(
            pd.DataFrame({"field": ["a"], "accuracy": [0.5], "lo": [0.4], "hi": [0.6]})
        ),
        charts.confusion(["a", "b"], [[1, 0], [2, 3]]),
        charts.stacked_counts(
            pd.DataFrame({"source": ["s"], "value": ["v"], "n": [1]}), "source", "value"
        ),
        charts.volume(
            pd.DataFrame({"source": ["s"], "week": [pd.Timestamp("2026-11-02")], "items": [3]})
        ),
        charts.experiment_metric(pd.DataFrame({"experiment": ["e"], "value": [0.5]}), "bleu", 0.7),
        charts.experiment_metric(pd.DataFrame({"experiment": ["e"], "value": [3.0]}), "loss", None),
    ]
    for chart in made:
        assert chart.to_dict()["usermeta"] == {"embedOptions": {"renderer": "canvas"}}
