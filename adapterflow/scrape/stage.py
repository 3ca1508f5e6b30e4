"""The scrape stage: every configured source, live or from the demo corpus, then the summary.

`run_scrape` scrapes GitHub then arXiv and writes `reports/scrape/summary.json`;
`run_scrape_source` does one kind (the unit a Prefect task maps over). With `scrape.offline: true`
or no network (the first request of a kind cannot connect) the sources are seeded from data/demo.
A failing source does not stop the others: the stage finishes them, writes the summary, then raises
one ScrapeError listing every failure. Run: `python -m adapterflow scrape` (or `dvc repro scrape`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial

from adapterflow.artifacts.data import (
    FAILED_PREFIX,
    Kind,
    KindResult,
    ScrapeSummary,
    SourceSummary,
)
from adapterflow.params import ScrapeParams
from adapterflow.paths import ProjectPaths
from adapterflow.scrape import arxiv, github
from adapterflow.scrape.demo import seed_source
from adapterflow.scrape.http import Clock, NetworkUnreachable, ScrapeError, TransientScrapeError
from adapterflow.scrape.store import RawStore, valid_text

logger = logging.getLogger(__name__)

OFFLINE_NOTICE = "scrape.offline is true; seeding data/raw from the demo corpus data/demo"
UNREACHABLE_NOTICE = (
    "network unreachable (%s); seeding data/raw from the demo corpus data/demo "
    "— set scrape.offline: true to skip the network"
)


class ScrapeFailed(ScrapeError):
    """Some sources failed; `result` holds what every source of the kind did, `transient` whether
    any failed for a reason that may pass (a TransientScrapeError: worth retrying the kind)."""

    def __init__(self, message: str, result: KindResult, transient: bool = False) -> None:
        super().__init__(message)
        self.result = result
        self.transient = transient

    def __reduce__(self):  # picklable (Prefect may serialise a failed task's exception)
        return (type(self), (str(self), self.result, self.transient))


class _Failures(list[str]):
    """Failure messages of one kind's sources, and whether any of them may pass."""

    transient = False

    def add(self, message: str, transient: bool) -> None:
        self.append(message)
        self.transient = self.transient or transient

    def raise_for(self, result: KindResult) -> None:
        if self:
            raise ScrapeFailed("; ".join(self), result, self.transient)


def run_scrape_source(
    params: ScrapeParams,
    paths: ProjectPaths,
    kind: Kind,
    *,
    clock: Clock | None = None,
    announce: bool = True,
) -> KindResult:
    """Scrape (or seed) every configured source of one kind.

    Args:
        params: the `scrape` section.
        paths: the project layout.
        kind: "github" (scrape.github.repos) or "arxiv" (scrape.arxiv.categories).
        clock: time functions; tests inject one to check waits without waiting.
        announce: log the one-line "seeding from the demo corpus" notice (run_scrape logs one
            line for both kinds instead).

    Returns:
        Per-source summaries, and why they came from the demo corpus (offline / no network).

    Raises:
        ScrapeFailed: at least one source failed (after all others were done).
    """
    clock = clock or Clock()
    store = RawStore(paths)
    names = list(params.github.repos if kind == "github" else params.arxiv.categories)
    try:
        store.set_configured(kind, names)  # stores of sources no longer listed are not read
    except ValueError as exc:  # a corrupt state.json: each source below fails, named, instead
        logger.error("%s: cannot record the configured sources: %s", kind, exc)
    failures = _Failures()
    if params.offline:
        if announce:
            logger.info("%s: %s", kind, OFFLINE_NOTICE)
        sources = [_guarded(kind, n, store, failures, seed_source, kind, n, store) for n in names]
        result = KindResult(
            kind=kind, offline=True, fallback="scrape.offline is true", sources=sources
        )
        failures.raise_for(result)
        return result

    sources: list[SourceSummary] = []
    fallback = ""
    module = github if kind == "github" else arxiv
    section = params.github if kind == "github" else params.arxiv
    try:
        client = module.make_client(section)
    except Exception as exc:  # noqa: BLE001 — e.g. a GITHUB_TOKEN a header cannot carry
        # Only the type: the message could quote the token.
        why = f"cannot set up the HTTP client ({type(exc).__name__}); check GITHUB_TOKEN"
        logger.error("%s: %s", kind, why)
        messages = [f"{kind} {name}: {why}" for name in names]
        sources = [_failed(kind, name, store, why) for name in names]
        raise ScrapeFailed(
            "; ".join(messages), KindResult(kind=kind, offline=False, fallback="", sources=sources)
        ) from None
    with client:
        fetcher = module.make_fetcher(client, section, clock)
        for index, name in enumerate(names):
            scrape_one = (
                partial(github.scrape_repo, name, params.github, fetcher, store, clock)
                if kind == "github"
                else partial(arxiv.scrape_category, name, params.arxiv, fetcher, store)
            )
            try:
                sources.append(_guarded(kind, name, store, failures, scrape_one))
            except NetworkUnreachable as exc:
                fallback = str(exc)
                if announce:
                    logger.warning(UNREACHABLE_NOTICE, fallback)
                sources.extend(
                    _guarded(kind, n, store, failures, seed_source, kind, n, store)
                    for n in names[index:]
                )
                break
    result = KindResult(kind=kind, offline=bool(fallback), fallback=fallback, sources=sources)
    failures.raise_for(result)
    return result


def _guarded(
    kind: Kind,
    name: str,
    store: RawStore,
    failures: _Failures,
    work: Callable[..., SourceSummary],
    *args: object,
) -> SourceSummary:
    """`work(*args)` for one source; a failure is logged, added to `failures` and summarised.

    NetworkUnreachable passes through (the caller falls back to the demo corpus). Anything else
    unforeseen (a disk error, a bug on odd data) ends as a failure naming the source: what was
    stored before it stays, and the other sources still run.
    """
    try:
        return work(*args)
    except NetworkUnreachable:
        raise
    except ScrapeError as exc:
        message, transient = str(exc), isinstance(exc, TransientScrapeError)
        logger.error("%s %s failed: %s", kind, name, message)
    except Exception as exc:  # noqa: BLE001 — one source's bug never stops the others
        message, transient = f"unexpected {type(exc).__name__}: {exc}", False
        logger.exception("%s %s failed: %s", kind, name, message)
    failures.add(valid_text(f"{kind} {name}: {message}"), transient)
    return _failed(kind, name, store, message)


def _failed(kind: Kind, name: str, store: RawStore, message: str) -> SourceSummary:
    try:
        origin = store.source_state(kind, name).get("origin", "live")
        total = len(store.load(kind, name))
    except Exception:  # noqa: BLE001 — the store itself is unreadable: still report the failure
        origin, total = "live", 0
    return SourceSummary(
        kind=kind,
        name=name,
        origin=origin,
        fetched=0,
        new=0,
        updated=0,
        total=total,
        complete=False,
        note=valid_text(f"{FAILED_PREFIX}{message}"),
    )


def write_scrape_summary(paths: ProjectPaths, results: list[KindResult]) -> ScrapeSummary:
    """Write `reports/scrape/summary.json` (format: docs/ARTIFACTS.md) from the kinds' results."""
    sources = [s for r in results for s in r.sources]
    summary = ScrapeSummary(
        finished_at=datetime.now(UTC).isoformat(timespec="seconds"),
        offline=any(r.offline for r in results),
        sources=sources,
        failed={
            f"{s.kind} {s.name}": s.note.removeprefix(FAILED_PREFIX)
            for s in sources
            if s.note.startswith(FAILED_PREFIX)
        },
    )
    summary.write(paths.scrape_summary)
    return summary


def run_scrape(
    scrape: ScrapeParams, paths: ProjectPaths, *, clock: Clock | None = None
) -> ScrapeSummary:
    """The scrape stage: GitHub issues and arXiv papers into data/raw, plus the summary report.

    Args:
        scrape: the `scrape` section of params.yaml.
        paths: the project layout (data/raw, data/demo, reports/scrape).
        clock: time functions; tests inject one.

    Returns:
        The summary also written to reports/scrape/summary.json.

    Raises:
        ScrapeError: one or more sources failed; the message lists each, the others are stored.
    """
    results: list[KindResult] = []
    failures: list[str] = []
    if scrape.offline:
        logger.info("%s", OFFLINE_NOTICE)
    for kind in ("github", "arxiv"):
        try:
            results.append(run_scrape_source(scrape, paths, kind, clock=clock, announce=False))
        except ScrapeFailed as exc:
            results.append(exc.result)
            failures.append(str(exc))
    unreachable = [r.fallback for r in results if r.fallback and not scrape.offline]
    if unreachable:
        logger.warning(UNREACHABLE_NOTICE, "; ".join(unreachable))  # one line for all kinds
    summary = write_scrape_summary(paths, results)
    if failures:
        raise ScrapeError(
            "scrape failed for some sources (the rest is stored): " + "; ".join(failures)
        )
    return summary
