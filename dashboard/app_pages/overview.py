"""Overview: per task the champion and its metrics against the gate, last runs, data freshness."""

import pandas as pd
import streamlit as st

from dashboard import charts, data, serving, ui
from dashboard.reports import METRICS

root = ui.root()
st.title("adapterflow")
if not data.has_any_results(root):
    ui.empty_state()
    st.stop()

runs = data.load_runs(root)
if not runs.empty:
    st.subheader("Last flow runs")
    latest = runs.drop_duplicates("flow")  # newest first, so the first row per flow is its last run
    for col, (_, run) in zip(st.columns(max(len(latest), 2)), latest.iterrows(), strict=False):
        col.metric(f"{run['flow']} flow", str(run["state"]))
    for _, run in latest.iterrows():
        message = str(run["message"])
        short = message if len(message) <= 300 else message[:299] + "…"  # full text: Runs page
        st.text(f"{run['flow']}: finished {ui.when(run['finished_at'])}: {short}")

servers = data.live_servers(root)
for task in data.tasks(root):
    st.header(f"Task: {ui.escape_md(task)}", divider="gray")
    state = data.task_state(root, task)
    ui.task_state(state)
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
            verdict = "passed" if gate.passed else "failed"
            promoted = f"promoted {gate.version}" if gate.promoted else "no promotion"
            st.text(f"Last gate decision: {verdict}, {promoted}, {ui.when(gate.decided_at)}")
        elif champion is None:
            st.text("No gate decision yet: the promote stage has not run for this task.")
        st.text(serving.api_line(servers.get(task, []), champion and champion["version"]))
    with right:
        if champion and all(isinstance(metrics.get(m), int | float) for m in METRICS):
            values = {m: float(metrics[m]) for m in METRICS}
            st.altair_chart(charts.metrics_vs_floor(values, floors.values), width="stretch")
        elif state.kind == "refused":
            st.text("No champion to chart: the gate refused every candidate so far (see above).")
        else:
            st.text("No champion to chart yet.")

st.header("Data freshness", divider="gray")
scrape = data.load_scrape_summary(root)
if scrape is None:
    st.text("No scrape summary yet (the scrape stage writes it).")
else:
    mode = "offline (demo corpus)" if scrape.offline else "live"
    st.text(f"Last scrape finished {ui.when(scrape.finished_at)}, {mode}.")
    sources = pd.DataFrame.from_records([s.model_dump() for s in scrape.sources])
    st.dataframe(sources, hide_index=True)
state = data.load_state(root)
if not state.empty:
    with st.expander("Scrape cursors (data/raw/state.json)"):
        st.dataframe(state, hide_index=True)
