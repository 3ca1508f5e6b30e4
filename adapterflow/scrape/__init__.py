"""The scrape stage: GitHub issues and arXiv papers into the raw store data/raw.

Run it with `python -m adapterflow scrape` (or `dvc repro scrape`); Prefect tasks call
`run_scrape` or, per kind, `run_scrape_source`. See stage.py for the flow of a run, github.py and
arxiv.py for the two clients, store.py for the raw store and demo.py for offline seeding.
"""

from adapterflow.artifacts.data import KindResult, ScrapeSummary, SourceSummary
from adapterflow.scrape.http import (
    NetworkUnreachable,
    RateLimited,
    ScrapeError,
    TransientScrapeError,
)
from adapterflow.scrape.stage import (
    ScrapeFailed,
    run_scrape,
    run_scrape_source,
    write_scrape_summary,
)

__all__ = [
    "KindResult",
    "NetworkUnreachable",
    "RateLimited",
    "ScrapeError",
    "ScrapeFailed",
    "ScrapeSummary",
    "SourceSummary",
    "TransientScrapeError",
    "run_scrape",
    "run_scrape_source",
    "write_scrape_summary",
]
