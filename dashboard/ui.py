"""Small layout helpers shared by the dashboard pages (Streamlit calls, no file access).

Anything that came from outside (scraped issue titles, model outputs, file contents) is shown
with `st.text`, `st.code` or `st.dataframe`, never as markdown or HTML; `escape_md` is for the
few of our own strings (task names, versions) that go into markdown-rendering elements.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pandas as pd
import streamlit as st

from dashboard.data import project_root
from dashboard.reports import TaskState

START_COMMAND = "bash runs/pipeline.sh"
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~:$])")


def escape_md(text: object) -> str:
    """`text` with every markdown/HTML-significant character backslash-escaped."""
    return _MD_SPECIAL.sub(r"\\\1", str(text))


def root() -> str:
    """The project root this session reads (see `ADAPTERFLOW_ROOT`), as a cache-key string."""
    return str(project_root())


def selected_task() -> str | None:
    """The task chosen in the sidebar (None when the project has no task yet)."""
    return st.session_state.get("task")


def empty_state(what: str = "No pipeline run has written results here yet.") -> None:
    """Say that there is nothing to show and how to produce it."""
    st.info(f"{what} Start a run from the project root with:", icon=":material/info:")
    st.code(START_COMMAND, language="bash")


def task_state(state: TaskState) -> None:
    """The banner of one task's state; each state has its own look so they are never confused:
    blue info (no run, in progress), orange warning with every gate reason (refused), green
    success (champion; any refusal of a newer candidate follows as a warning)."""
    if state.kind == "champion":
        st.success(escape_md(state.headline), icon=":material/verified:")
    elif state.kind == "refused":
        st.warning(escape_md(state.headline), icon=":material/block:")
    else:
        st.info(escape_md(state.headline), icon=":material/info:")
    if state.reasons:
        if state.kind == "champion":
            st.warning("Why the gate refused the last candidate:", icon=":material/block:")
        for reason in state.reasons:
            st.text(f"• {reason}")
    st.caption("Next:")
    st.code(state.next_command, language="bash")


def when(stamp: object) -> str:
    """An ISO time as `2026-11-22 21:05 UTC (3 h ago)`; `unknown` when missing or unreadable."""
    moment = pd.to_datetime(stamp, utc=True, errors="coerce") if stamp is not None else pd.NaT
    if pd.isna(moment):
        return "unknown"
    age = datetime.now(UTC) - moment.to_pydatetime()
    seconds = max(age.total_seconds(), 0)
    if seconds < 3600:
        ago = f"{seconds / 60:.0f} min ago"
    elif seconds < 172800:
        ago = f"{seconds / 3600:.0f} h ago"
    else:
        ago = f"{seconds / 86400:.0f} days ago"
    return f"{moment:%Y-%m-%d %H:%M} UTC ({ago})"


def fmt(value: object, digits: int = 3) -> str:
    """A metric for display: `0.712`, or `–` when absent."""
    return f"{value:.{digits}f}" if isinstance(value, int | float) else "–"


def number(value: object) -> str:
    """A measurement for display: `1,400` / `85.3` / `0.865`; text as is; `–` when absent."""
    if value is None:
        return "–"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if abs(value) >= 100 or isinstance(value, int):
        return f"{value:,.0f}"
    return f"{value:.1f}" if abs(value) >= 10 else f"{value:.3f}"
