"""Runs: the registry history of a task, metric trends with the gate, the rollbacks it remembers,
candidate vs champion vs zero-shot, and the flow runs recorded in reports/runs.jsonl."""

import pandas as pd
import streamlit as st

from dashboard import charts, data, ui
from dashboard.reports import METRICS

root = ui.root()
task = ui.selected_task()
st.title(f"Runs: {ui.escape_md(task)}" if task else "Runs")
if task is None:
    ui.empty_state()
    st.stop()
ui.task_state(data.task_state(root, task))

floors = data.gate_floors(root, task)
history = data.history_frame(root, task)
st.subheader("Registered versions")
if history.empty:
    ui.empty_state(f"No adapter of {task} has been through the gate yet.")
else:
    st.dataframe(history, hide_index=True)
    st.subheader("Metrics over time")
    st.altair_chart(charts.metric_trend(history, list(METRICS), floors.values), width="stretch")
    st.caption(f"Red dashed line: the gate floor, from {ui.escape_md(floors.source)}.")
rollbacks = data.rollbacks_frame(root, task)
if not rollbacks.empty:
    st.subheader("Rollbacks")
    st.caption(
        "The gate refuses a rolled-back adapter, under any version, until someone runs "
        f"`python -m adapterflow allow {ui.escape_md(task)} <version>`."
    )
    st.dataframe(rollbacks, hide_index=True)

st.subheader("Candidate vs champion vs zero-shot")
candidate = data.load_metrics(root, task)
champion = data.champion_entry(root, task)
rows = []
if candidate is not None:
    for model, block in (("candidate", candidate), ("zero-shot", candidate.baseline)):
        rows += [{"model": model, "metric": m, "value": getattr(block, m)} for m in METRICS]
if champion is not None:
    known = champion.get("metrics") or {}
    rows += [{"model": "champion", "metric": m, "value": known[m]} for m in METRICS if m in known]
if rows:
    frame = pd.DataFrame(rows)
    st.altair_chart(charts.compare(frame, floors.values), width="stretch")
    table = frame.pivot(index="model", columns="metric", values="value")
    st.dataframe(table.reindex(columns=list(METRICS)))
else:
    st.text("No evaluation yet (the evaluate stage has not run).")

st.subheader("Flow runs")
runs = data.load_runs(root)
if runs.empty:
    st.text("No flow run recorded yet (reports/runs.jsonl is written by the Prefect flows).")
else:
    st.dataframe(runs, hide_index=True)
    pick = st.selectbox("Full message of run", runs["run_id"].tolist(), key="run_message")
    st.code(
        str(runs.loc[runs["run_id"] == pick, "message"].iloc[0]), language=None, wrap_lines=True
    )
