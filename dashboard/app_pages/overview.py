"""Overview: per task the champion and its metrics against the gate, last runs, data freshness."""

import pandas as pd
import streamlit as st

from dashboard import charts, data, ui
from dashboard.reports import METRICS

root = ui.root()
st.title("adapterflow")
if not data.has_any_results(root):
    ui.empty_state()
    st.stop()

runs = data.load_runs(root)
if not runs.empty:
    last = runs.iloc[0]
    st.subheader("Last flow run")
    cols = st.columns(3)
    cols[0].metric("State", str(last["state"]))
    cols[1].metric("Flow", str(last["flow"]))
    cols[2].metric("Run", str(last["run_id"]))
    st.text(f"Finished {ui.when(last['finished_at'])}: {last['message']}")

for task in data.tasks(root):
    st.header(f"Task: {ui.escape_md(task)}", divider="gray")
    floors = data.gate_floors(root, task)
    champion = data.champion_entry(root, task)
    gate = data.load_gate(root, task)
    left, right = st.columns([2, 3])
    with left:
        st.metric("Champion", champion["version"] if champion else "none yet")
        metrics = champion.get("metrics", {}) if champion else {}
        for col, metric in zip(st.columns(3), METRICS, strict=True):
            value, floor = metrics.get(metric), floors.values.get(metric)
            gap = isinstance(value, int | float) and floor is not None
            col.metric(
                metric, ui.fmt(value), delta=f"{value - floor:+.3f} vs floor" if gap else None
            )
        st.caption(f"Gate floors from {ui.escape_md(floors.source)}")
        if gate is not None:
            verdict = "passed" if gate["passed"] else "failed"
            promoted = (
                "promoted " + str(gate.get("version")) if gate.get("promoted") else "no promotion"
            )
            st.text(f"Last gate decision: {verdict}, {promoted}, {ui.when(gate.get('decided_at'))}")
        elif champion is None:
            st.text("No gate decision yet: the promote stage has not run for this task.")
    with right:
        if champion and all(isinstance(metrics.get(m), int | float) for m in METRICS):
            values = {m: float(metrics[m]) for m in METRICS}
            st.altair_chart(charts.metrics_vs_floor(values, floors.values), width="stretch")
        else:
            ui.empty_state(f"No champion adapter for {task} yet.")

st.header("Data freshness", divider="gray")
scrape = data.load_scrape_summary(root)
if scrape is None:
    st.text("No scrape summary yet (reports/scrape/summary.json).")
else:
    mode = "offline (demo corpus)" if scrape.get("offline") else "live"
    st.text(f"Last scrape finished {ui.when(scrape['finished_at'])}, {mode}.")
    st.dataframe(pd.DataFrame.from_records(scrape["sources"]), hide_index=True)
state = data.load_state(root)
if not state.empty:
    with st.expander("Scrape cursors (data/raw/state.json)"):
        st.dataframe(state, hide_index=True)
