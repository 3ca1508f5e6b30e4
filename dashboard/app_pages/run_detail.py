"""Run detail: the latest candidate of a task: loss curve, per-field accuracy with 95% intervals,
confusion matrices, the gate's checks and reasons, and browsable predictions."""

import pandas as pd
import streamlit as st

from dashboard import charts, data, ui
from dashboard.reports import METRICS

root = ui.root()
task = ui.selected_task()
st.title(f"Run detail: {ui.escape_md(task)}" if task else "Run detail")
if task is None:
    ui.empty_state()
    st.stop()
ui.task_state(data.task_state(root, task))

st.subheader("Training")
summary = data.load_train_summary(root, task)
if summary is not None:
    keys = ("method", "steps", "final_loss", "tokens_per_s", "wall_s", "peak_rss_mb", "device")
    for col, key in zip(st.columns(len(keys)), keys, strict=True):
        col.metric(key, ui.number(getattr(summary, key)))
    with st.expander("Full training summary"):
        st.json(summary.to_json())
loss = data.load_loss(root, task)
if loss is None or loss.empty:
    st.text("No loss curve yet (the train stage writes it).")
else:
    st.altair_chart(charts.loss_curve(loss), width="stretch")

st.subheader("Evaluation")
metrics = data.load_metrics(root, task)
if metrics is None:
    ui.empty_state(f"{task} has not been evaluated yet.")
else:
    intervals, fields, macro = metrics.intervals, metrics.fields, metrics.macro_f1
    names = [*METRICS, *fields]

    def score(block, name):  # a gate metric is an attribute, a field's score is under `fields`
        return getattr(block, name) if name in METRICS else block.fields.get(name)

    table = pd.DataFrame(
        {
            "accuracy": [score(metrics, m) for m in names],
            "lo": [(intervals.get(m) or [None, None])[0] for m in names],
            "hi": [(intervals.get(m) or [None, None])[1] for m in names],
            "macro_f1": [macro.get(m) for m in names],
            "zero-shot": [score(metrics.baseline, m) for m in names],
            "majority": [score(metrics.majority, m) if metrics.majority else None for m in names],
        },
        index=pd.Index(names, name="metric / field"),
    )
    st.caption(
        f"n = {metrics.n} test examples; lo/hi = 95% interval; majority = always the train "
        "split's most frequent labelled value"
    )
    if metrics.labels is not None:
        st.caption(
            f"{metrics.labels.human_share:.0%} of the scored test labels came from people: "
            + ", ".join(
                f"{f} {metrics.labels.human[f]} of {n}" for f, n in metrics.labels.scored.items()
            )
        )
    st.dataframe(table)
    if fields:
        per_field = table.loc[list(fields)].reset_index(names="field")
        st.altair_chart(charts.field_accuracy(per_field), width="stretch")
    st.text(f"BLEU signature: {metrics.bleu_signature}")
    confusion = metrics.confusion
    if confusion:
        field = st.selectbox("Confusion matrix of field", list(confusion), key="confusion_field")
        matrix = confusion[field]
        st.altair_chart(charts.confusion(matrix.labels, matrix.matrix), width="stretch")
        if field in metrics.per_class:
            st.dataframe(pd.DataFrame(metrics.per_class[field]).T.rename_axis(f"{field} value"))

st.subheader("Gate")
gate = data.load_gate(root, task)
if gate is None:
    st.text("No gate decision yet (the promote stage writes it).")
else:
    verdict = "PASSED" if gate.passed else "FAILED"
    st.text(f"{verdict} at {ui.when(gate.decided_at)}; version {gate.version}")
    checks = pd.DataFrame.from_records([c.model_dump() for c in gate.checks])
    st.dataframe(checks, hide_index=True)
    for reason in gate.reasons:
        st.text(f"• {reason}")

st.subheader("Predictions")
predictions = data.load_predictions(root, task)
if predictions is None or predictions.empty:
    st.text("No predictions yet (the evaluate stage writes them).")
    st.stop()
wrong_only = st.toggle("Only wrong answers", key="wrong_only")
shown = predictions[~predictions["correct"]] if wrong_only else predictions
st.caption(
    f"{len(shown)} of {len(predictions)} predictions ({(~predictions['correct']).sum()} wrong)"
)
st.dataframe(shown.drop(columns=["input"]), hide_index=True)
if not shown.empty:
    pick = st.selectbox("Show one prediction in full", shown["id"].tolist(), key="prediction_id")
    row = shown[shown["id"] == pick].iloc[0]
    st.text("Input")
    st.code(row["input"], language=None, wrap_lines=True)
    for key in ("reference", "output", "baseline_output"):
        st.text(key.replace("_", " ").capitalize())
        st.code(row[key], language=None, wrap_lines=True)
