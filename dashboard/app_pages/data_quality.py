"""Data: validation results per expectation group with the failed expectations, raw volumes over
time, and per task the label/category distributions per source and where labels came from."""

import streamlit as st

from dashboard import charts, data, ui

root = ui.root()
st.title("Data")

st.subheader("Validation (Great Expectations)")
validation = data.load_validation(root)
if not validation:
    st.text("No validation results yet (the validate stage writes reports/validate/).")
else:
    groups = data.validation_groups(validation)
    ok = sum(r.success for r in validation)
    st.caption(f"{ok} of {len(validation)} datasets pass every expectation")
    st.dataframe(groups, hide_index=True)
    failed = data.failed_expectations(validation)
    if failed.empty:
        st.text("No failed expectations.")
    else:
        st.text(f"Failed expectations ({len(failed)}):")
        st.dataframe(failed, hide_index=True)

st.subheader("Raw data")
counts = data.raw_counts(root)
if counts.empty:
    ui.empty_state("Nothing has been scraped into data/raw/ yet.")
else:
    st.dataframe(counts, hide_index=True)
    volume = data.raw_volume(root)
    if not volume.empty:
        st.text("Items per week of creation (issues: created_at, papers: published)")
        st.altair_chart(charts.volume(volume), width="stretch")

task = ui.selected_task()
if task is None:
    st.stop()
ui.task_state(data.task_state(root, task))
st.subheader(f"Examples of {ui.escape_md(task)}")
prepare = data.load_prepare_summary(root)
task_summary = prepare.tasks.get(task) if prepare else None
if task_summary:
    splits = task_summary.splits
    named = [s for s in data.SPLITS if s in splits] + [s for s in splits if s not in data.SPLITS]
    for col, split in zip(st.columns(len(named)), named, strict=True):
        col.metric(split, splits[split])
    tokens = task_summary.input_tokens
    st.text(f"Input length: p50 {tokens.p50}, p95 {tokens.p95} tokens")
    hist = tokens.histogram
    st.altair_chart(
        charts.histogram(hist["edges"], hist["counts"], "input tokens"), width="stretch"
    )
labels = data.processed_labels(root, task)
if labels.empty:
    st.text(f"No examples yet (data/processed/{task}/ is written by the prepare stage).")
    st.stop()
# Free-text fields (a paper's title) have as many values as examples: no distribution to draw.
categorical = [f for f, g in labels.groupby("field") if g["value"].nunique() <= 40]
if categorical:
    field = st.selectbox("Distribution of field", categorical, key="distribution_field")
    per_source = labels[labels["field"] == field].groupby(["source", "value"], as_index=False)
    counts = per_source.size().rename(columns={"size": "n"})
    st.text(f"{field} per source")
    st.altair_chart(charts.stacked_counts(counts, "source", "value"), width="stretch")
provenance = labels.groupby(["field", "provenance"], as_index=False).size()
st.text(
    "Where each field's label came from: people (label, type, field) or weak rules the task "
    "opted into (template, keyword, default); unlabelled = trains nothing, never scored"
)
st.altair_chart(
    charts.stacked_counts(provenance.rename(columns={"size": "n"}), "field", "provenance"),
    width="stretch",
)
