"""DVC's per-output locks (`.dvc/tmp/rwlock`): who really holds them, and repair of stale state.

DVC records, for each output a running stage writes and each dependency it reads, the PID and
command line of the dvc process (`{"write": {path: {"pid", "cmd"}}, "read": {path: [...]}}`, see
dvc/rwlock.py). Two faults made a scheduled stage wait forever or fail on every run:

- an entry whose PID now belongs to another process (a reboot, or PID reuse) counts as held:
  DVC only drops entries whose PID does not exist. Here an entry is live only when its PID runs
  and that process's command line is the recorded command (`same_command`); `repair` removes the
  others, under DVC's own guard (`rwlock.lock`), leaving live entries untouched;
- a truncated, empty or malformed file makes DVC fail every stage. `repair` moves it aside to
  `rwlock.corrupt-<UTC time>` (never deleted: it is evidence) so the next stage starts clean.

`blockers` decides "busy" as DVC does: a write entry blocks a stage that reads or writes an
overlapping path, a read entry one that writes an overlapping path; other stages never wait.
psutil (already a dependency) reads process command lines portably and reports zombies.
`repair` and `blockers` import DVC; the rest does not. Not run directly.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path, PurePath
from typing import Any

import psutil

from adapterflow.io import write_text_atomic

logger = logging.getLogger(__name__)
RWLOCK = "rwlock"  # in .dvc/tmp, as DVC names it
GUARD = "rwlock.lock"  # DVC holds it while it edits the rwlock file


def same_command(recorded: str, cmdline: Sequence[str]) -> bool:
    """Whether a process whose argv is `cmdline` can be the dvc that recorded `recorded`.

    DVC records `" ".join(sys.argv)`. Python keeps the arguments as given and replaces argv[0]
    by the script path (`python /venv/bin/dvc repro`), or by the module's file for `python -m
    dvc repro` (`.../dvc/__main__.py repro`), or by "-c" for `python -c`; a frozen `dvc` binary
    keeps argv as it is. So the
    recorded command must be one program name followed by exactly the process's last arguments.

    Args:
        recorded: the `cmd` of an rwlock entry.
        cmdline: the process's argv (psutil.Process.cmdline()).

    Returns:
        True when the process may be that dvc (the entry is held), False when it cannot be.
    """
    for k in range(1, len(cmdline) + 1):
        tail = " ".join(cmdline[k:])
        if tail and not recorded.endswith(" " + tail):
            continue
        head = recorded[: len(recorded) - len(tail)].rstrip(" ") if tail else recorded
        if head and _program_matches(head, cmdline[:k]):
            return True
    return False


def _program_matches(head: str, before: Sequence[str]) -> bool:
    """`head` (argv[0] as Python saw it) names the program `before` (argv up to it) runs."""
    last = before[-1]
    if len(before) >= 2 and before[-2] == "-c":  # python -c <code>: argv[0] is "-c"
        return head == "-c"
    module = last[2:] if last.startswith("-m") and len(last) > 2 else None
    if len(before) >= 2 and before[-2] == "-m":
        module = last
    if module is not None:  # python -m <module>: argv[0] is the module's file
        path = module.replace(".", "/")
        return head.endswith((f"{path}.py", f"{path}/__main__.py"))
    return head == last or PurePath(head).name == PurePath(last).name


def stale_reason(info: dict[str, Any]) -> str | None:
    """Why the process of an rwlock entry (`{"pid", "cmd"}`) no longer holds it, or None when it
    still runs that command (the entry is live).

    A process whose command line cannot be read (another user's, on some systems) counts as live:
    only an entry known to be stale is ever removed.
    """
    try:
        cmdline = psutil.Process(int(info["pid"])).cmdline()
    except psutil.ZombieProcess:
        return "that process has exited"
    except psutil.NoSuchProcess:
        return "no process has that PID any more"
    except psutil.AccessDenied:
        return None
    if same_command(str(info["cmd"]), cmdline):
        return None
    return f"that PID now runs another command ({' '.join(cmdline)[:80]!r})"


def is_live(info: dict[str, Any]) -> bool:
    """Whether the process of an rwlock entry still runs the command that took the lock."""
    return stale_reason(info) is None


def holder(info: dict[str, Any]) -> str:
    """An entry as messages name it: `PID 4242 (dvc repro -s a)`."""
    return f"PID {info['pid']} ({info['cmd']})"


def entries(table: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(mode, path, info) for every entry of a parsed rwlock table."""
    for path, info in table.get("write", {}).items():
        yield "write", path, info
    for path, infos in table.get("read", {}).items():
        for info in infos:
            yield "read", path, info


def _read(tmp_dir: Path) -> dict[str, Any]:
    """The rwlock table; empty when there is none or it does not fit DVC's format (`repair`
    moves such a file aside)."""
    try:
        table = json.loads((tmp_dir / RWLOCK).read_text(encoding="utf-8"))
        fits = all(
            isinstance(i.get("pid"), int) and isinstance(i.get("cmd"), str)
            for *_, i in entries(table)
        )
    except (OSError, ValueError, AttributeError, TypeError):
        return {}
    return table if fits else {}


def live_holders(tmp_dir: Path) -> list[str]:
    """Every live holder of any path (for messages), sorted."""
    table = _read(tmp_dir)
    return sorted(
        {holder(i) for _, _, i in entries(table) if i.get("pid") != os.getpid() and is_live(i)}
    )


def repair(tmp_dir: Path, *, hardlink: bool = False) -> list[str]:
    """Remove stale entries from `tmp_dir/rwlock`, or move a corrupt file aside, as DVC's guard
    allows (dvc.lock.make_lock on `rwlock.lock`, as dvc/rwlock.py takes it).

    Args:
        tmp_dir: the project's `.dvc/tmp`.
        hardlink: DVC's `core.hardlink_lock` setting (which kind of guard DVC takes).

    Returns:
        One line per thing repaired (also logged as warnings); empty when nothing was.

    Raises:
        dvc.lock.LockError: another dvc kept the guard for DVC's 3 s (try again later).
    """
    from dvc.lock import make_lock
    from dvc.rwlock import SCHEMA
    from voluptuous import Invalid

    path = tmp_dir / RWLOCK
    if not path.is_file():
        return []
    with make_lock(str(tmp_dir / GUARD), tmp_dir=str(tmp_dir), hardlink_lock=hardlink):
        text = path.read_text(encoding="utf-8", errors="replace")
        try:
            table = SCHEMA(json.loads(text))
        except (ValueError, Invalid) as exc:
            aside = path.with_name(f"{RWLOCK}.corrupt-{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}")
            path.rename(aside)
            done = [
                f"{path} was unreadable ({type(exc).__name__}: {str(exc)[:80]}; {len(text)} "
                f"bytes), so DVC failed every stage; moved it to {aside.name} (kept for "
                "inspection) and continuing with no locks recorded"
            ]
        else:
            done = _drop_stale(path, table)
    for line in done:
        logger.warning("%s", line)
    return done


def _drop_stale(path: Path, table: dict[str, Any]) -> list[str]:
    stale = [(m, p, i, why) for m, p, i in entries(table) if (why := stale_reason(i)) is not None]
    if not stale:
        return []
    for mode, where, info, _ in stale:
        if mode == "write":
            del table["write"][where]
        else:
            table["read"][where].remove(info)
            if not table["read"][where]:
                del table["read"][where]
    write_text_atomic(path, json.dumps(table))
    return [
        f"{path}: removed the stale {mode} lock on {where} of {holder(info)}: {why}"
        for mode, where, info, why in stale
    ]


def blockers(tmp_dir: Path, reads: Sequence[str], writes: Sequence[str]) -> list[str]:
    """The live holders that keep a stage with these paths from starting, as DVC decides.

    Args:
        tmp_dir: the project's `.dvc/tmp`.
        reads: the stage's dependency and output paths (DVC reads both before running it).
        writes: the stage's output paths.

    Returns:
        `holder` lines, sorted; empty when the stage may start.
    """
    from dvc.fs import localfs

    found = set()
    for mode, path, info in entries(_read(tmp_dir)):
        # dvc/rwlock.py `_check_blockers`: writers block readers and writers, readers block writers
        mine = [*reads, *writes] if mode == "write" else writes
        if info.get("pid") == os.getpid() or not any(localfs.overlaps(m, path) for m in mine):
            continue
        if is_live(info):
            found.add(holder(info))
    return sorted(found)
