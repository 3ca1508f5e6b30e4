"""adapterflow dashboard: champions, run history, gate, curves, data quality, experiments.

Run it with `bash runs/dashboard.sh` (or `streamlit run dashboard/streamlit_app.py`); it serves
on 127.0.0.1 (see .streamlit/config.toml). It only reads the project at `$ADAPTERFLOW_ROOT`
(default: this repository). This file is the entry point: it sets up navigation, the sidebar
(project, task picker, refresh) and turns a malformed report or params.yaml into an error naming
the file and the fix.
"""

import sys
from pathlib import Path

# `streamlit run` puts this script's folder, not the repository, on sys.path; the pages import
# the `dashboard` package, so the repository root has to be importable.
_REPO = str(Path(__file__).resolve().parents[1])
if _REPO not in sys.path:
    sys.path.insert(0, _REPO)

import streamlit as st  # noqa: E402

from dashboard import data, ui  # noqa: E402

st.set_page_config(page_title="adapterflow", page_icon=":material/monitoring:", layout="wide")

PAGES = [
    st.Page("app_pages/overview.py", title="Overview", icon=":material/dashboard:", default=True),
    st.Page("app_pages/runs.py", title="Runs", icon=":material/history:"),
    st.Page("app_pages/run_detail.py", title="Run detail", icon=":material/query_stats:"),
    st.Page("app_pages/data_quality.py", title="Data", icon=":material/dataset:"),
    st.Page("app_pages/experiments.py", title="Experiments", icon=":material/science:"),
]
page = st.navigation(PAGES)


def broken(path: object, exc: Exception) -> None:
    """A broken file is the user's to fix: name it and the fix instead of showing a traceback."""
    st.error(f"Cannot show this page: {ui.escape_md(path)} is broken.", icon=":material/error:")
    st.code(str(exc), language=None, wrap_lines=True)


try:
    with st.sidebar:
        st.caption("Project")
        st.text(ui.root())
        names = data.tasks(ui.root())
        if names:
            # `?task=<name>` in the URL picks the task (shareable links); else the most telling.
            asked = st.query_params.get("task")
            first = names.index(asked) if asked in names else data.default_task(ui.root(), names)
            st.selectbox("Task", names, index=first, key="task")
        if st.button("Refresh", icon=":material/refresh:", help="Re-read every file now"):
            data.clear_caches()
    page.run()
except data.ArtifactError as exc:
    broken(exc.path, exc)
except data.ParamsError as exc:  # the gate floors come from params.yaml only: never guessed
    broken("params.yaml", exc)
