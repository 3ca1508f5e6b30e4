"""Experiments: DVC experiments side by side (e.g. a LoRA rank sweep, `dvc exp run -S
train.lora_r=8`), with what each changed and the metrics it reached."""

from pathlib import Path

import streamlit as st

from dashboard import charts, data, ui
from dashboard.experiments import varying_columns
from dashboard.reports import METRICS

root = ui.root()
st.title("Experiments")
if (task := ui.selected_task()) is not None:
    ui.task_state(data.task_state(root, task))
result = data.load_experiments(root)
if result.problem is not None:
    st.text(f"No DVC experiments to show: {result.problem}")
    st.text("Run a sweep from the project root, for example:")
    st.code("dvc exp run -S train.lora_r=4\ndvc exp run -S train.lora_r=16", language="bash")
    st.stop()
table = result.table
if table.empty or len(table) < 2:
    st.text("Only the workspace so far; `dvc exp run -S <param>=<value>` adds experiments.")
changed = varying_columns(table, "param")
metrics = [c for c in table.columns if c.startswith("metric:")]
st.caption("Params that differ between rows, then every metric (file:key)")
st.dataframe(
    table[["experiment", "parent", "timestamp", *changed, *metrics]],
    hide_index=True,
    column_config={c: c.split(":", 1)[1] for c in changed + metrics},
)
numeric = [c for c in metrics if table[c].dtype.kind in "if"]
if numeric:
    pick = st.selectbox("Compare metric", numeric, key="exp_metric", format_func=lambda c: c[7:])
    name = pick.rsplit(":", 1)[-1]
    task = Path(pick.split(":")[1]).stem  # metric:reports/metrics/<task>.json:<key>
    floor = data.gate_floors(root, task).values.get(name) if name in METRICS else None
    # Label each bar with what the experiment changed, e.g. "rank16 · train.lora_r=16".
    labels = table["experiment"].astype(str)
    for col in changed:
        labels = labels + " · " + col.rsplit(":", 1)[-1] + "=" + table[col].astype(str)
    frame = table[[pick]].rename(columns={pick: "value"}).assign(experiment=labels).dropna()
    st.altair_chart(charts.experiment_metric(frame, name, floor), width="stretch")
