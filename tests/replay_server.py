"""A real HTTP server on 127.0.0.1 that replays recorded and fabricated GitHub/arXiv responses.

The scrapers run unmodified against it (api_url pointed at `server.url`): real sockets, real
headers, real pagination. A server takes one handler, `handler(request) -> Reply`; the building
blocks here are:

- `recorded(real_dir, "github/pygithub_2024_issues_p01", base_url)`: a response recorded from the
  real API (../shared/data/real; body + `.meta.json` status and headers), Link URLs re-pointed at
  this server;
- `FakeGitHub`: the issues listing of any number of repositories with `since`, `per_page`, `page`,
  `/repositories/<id>/issues` next links, ETags and 304s; `issue(...)` builds API-shaped issues;
- `FakeArxiv`: the export API's `search_query=cat:X` newest-first paging over `paper(...)`s;
- `Reply(drop=True)` closes the connection without answering (a crash / network cut).

Every request is kept in `server.requests` (path, query, headers) for assertions. Usage:

    with ReplayServer(FakeGitHub({"o/r": [issue(1, "2025-01-01T00:00:00Z")]})) as server:
        params = scrape_params(server.url)
"""

from __future__ import annotations

import hashlib
import json
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit
from xml.sax.saxutils import escape

from adapterflow.params import ScrapeParams

# Recorded bodies are stored decoded, so these recorded headers no longer describe them.
_HOP_HEADERS = {"content-length", "transfer-encoding", "content-encoding", "connection", "status"}


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    drop: bool = False  # close the connection without any answer
    raw: bytes | None = None  # written to the socket as is (a broken status line or headers)
    chunked: bool = False  # no Content-Length: the client only learns the size by reading


Handler = Callable[[Request], Reply]


class ReplayServer:
    """Threaded HTTP server on 127.0.0.1, port chosen by the OS; a context manager."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[Request] = []
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._make_handler_class())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> ReplayServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def _make_handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                parts = urlsplit(self.path)
                request = Request(
                    method="GET",
                    path=parts.path,
                    query={k: v[0] for k, v in parse_qs(parts.query).items()},
                    headers={k.lower(): v for k, v in self.headers.items()},
                )
                server.requests.append(request)
                reply = server.handler(request)
                if reply.raw is not None:
                    self.close_connection = True
                    self.wfile.write(reply.raw)
                    return
                if reply.drop:
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self.send_response(reply.status)
                for name, value in reply.headers:
                    self.send_header(name, value)
                if not reply.chunked:
                    self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)
                    return
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for i in range(0, len(reply.body), 16_384):
                    piece = reply.body[i : i + 16_384]
                    self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                self.wfile.write(b"0\r\n\r\n")

            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

        return _Handler


def closed_port_url() -> str:
    """A 127.0.0.1 URL where nothing listens (connection refused: "no network")."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def recorded(real_dir: Path, name: str, base_url: str) -> Reply:
    """A recorded answer: `<name>.body.json` + status/headers from `.meta.json`, or an XML feed."""
    meta_path = real_dir / f"{name}.meta.json"
    if meta_path.is_file():
        meta = json.loads(meta_path.read_text())
        headers = [
            (k, v.replace("https://api.github.com", base_url))
            for k, v in meta["headers"]
            if k.lower() not in _HOP_HEADERS
        ]
        return Reply(
            status=meta["status"],
            body=(real_dir / f"{name}.body.json").read_bytes(),
            headers=headers,
        )
    body = (real_dir / name).read_bytes()  # arXiv recordings: the feed only
    return Reply(body=body, headers=[("Content-Type", "application/atom+xml; charset=utf-8")])


# ------------------------------------------------------------------------------------- GitHub
def issue(
    number: int, updated_at: str, *, body: str | None = "text", pr: bool = False, labels=("bug",)
) -> dict:
    """An issue as GitHub's REST API returns it (the fields the scraper reads, plus some noise)."""
    item = {
        "id": 1_000_000 + number,
        "node_id": f"I_{number}",
        "number": number,
        "title": f"Issue {number}",
        "body": body,
        "labels": [{"id": i, "name": name, "color": "ffffff"} for i, name in enumerate(labels)],
        "state": "open",
        "created_at": "2024-01-01T00:00:00Z",
        "updated_at": updated_at,
        "html_url": f"https://github.com/o/r/issues/{number}",
        "user": {"login": "someone"},
        "comments": 0,
    }
    if pr:
        item["pull_request"] = {"url": f"https://api.github.com/repos/o/r/pulls/{number}"}
    return item


class FakeGitHub:
    """GitHub's `GET /repos/{owner}/{repo}/issues` over in-memory issues (sort=updated asc)."""

    def __init__(self, repos: dict[str, list[dict]], *, since_exclusive: bool = False) -> None:
        self.repos = repos
        self.since_exclusive = since_exclusive  # `since` as "after", not "at or after"
        self.ids = {repo: 4000 + i for i, repo in enumerate(repos)}
        self.base_url = ""  # set from the first request's Host header

    def __call__(self, request: Request) -> Reply:
        self.base_url = f"http://{request.header('host')}"
        parts = request.path.strip("/").split("/")
        if len(parts) == 4 and parts[0] == "repos" and parts[3] == "issues":
            repo = f"{parts[1]}/{parts[2]}"
        elif len(parts) == 3 and parts[0] == "repositories" and parts[2] == "issues":
            repo = next((r for r, i in self.ids.items() if str(i) == parts[1]), "")
        else:
            repo = ""
        if repo not in self.repos:
            return Reply(404, b'{"message":"Not Found"}', [("Content-Type", "application/json")])
        return self._page(repo, request)

    def _page(self, repo: str, request: Request) -> Reply:
        since = request.query.get("since", "")
        per_page = int(request.query.get("per_page", "30"))
        page = int(request.query.get("page", "1"))
        items = sorted(
            (
                i
                for i in self.repos[repo]
                if i["updated_at"] > since
                or (i["updated_at"] == since and not self.since_exclusive)
            ),
            key=lambda i: (i["updated_at"], i["number"]),
        )
        chunk = items[(page - 1) * per_page : page * per_page]
        body = json.dumps(chunk).encode()
        etag = f'W/"{hashlib.sha256(body).hexdigest()}"'
        if request.header("if-none-match") == etag:
            return Reply(304, b"", [("ETag", etag)])
        headers = [("Content-Type", "application/json; charset=utf-8"), ("ETag", etag)]
        if page * per_page < len(items):
            query = {k: v for k, v in request.query.items() if k != "page"}
            query = urlencode({**query, "page": page + 1})
            nxt = f"{self.base_url}/repositories/{self.ids[repo]}/issues?{query}"
            headers.append(("Link", f'<{nxt}>; rel="next"'))
        return Reply(200, body, headers)


# -------------------------------------------------------------------------------------- arXiv
def paper(
    arxiv_id: str,
    published: str,
    *,
    version: int = 1,
    category: str = "cs.LG",
    title: str | None = None,
) -> dict:
    """A paper as the export API describes it (rendered to Atom by `atom_entry`)."""
    return {
        "id": arxiv_id,
        "version": version,
        "title": title or f"Paper {arxiv_id}",
        "abstract": f"We study problem {arxiv_id}.",
        "category": category,
        "published": published,
        "updated": published,
    }


def atom_entry(p: dict) -> str:
    return f"""  <entry>
    <id>http://arxiv.org/abs/{p["id"]}v{p["version"]}</id>
    <updated>{p["updated"]}</updated>
    <published>{p["published"]}</published>
    <title>{escape(p["title"])}</title>
    <summary>  {escape(p["abstract"])}
</summary>
    <author><name>Ada Example</name></author>
    <author><name>Bo Sample</name></author>
    <link href="http://arxiv.org/abs/{p["id"]}v{p["version"]}" rel="alternate" type="text/html"/>
    <arxiv:primary_category term="{p["category"]}" scheme="http://arxiv.org/schemas/atom"/>
    <category term="{p["category"]}" scheme="http://arxiv.org/schemas/atom"/>
    <category term="stat.ML" scheme="http://arxiv.org/schemas/atom"/>
  </entry>
"""


ERROR_ENTRY = """  <entry>
    <id>http://arxiv.org/api/errors#incorrect_query</id>
    <title>Error</title>
    <summary>malformed query, try again</summary>
    <updated>2026-01-01T00:00:00Z</updated>
    <author><name>arXiv api core</name></author>
  </entry>
"""


def atom_feed(entries: list[str], total: int, start: int = 0) -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/" xmlns:arxiv="http://arxiv.org/schemas/atom">
  <title>arXiv Query</title>
  <opensearch:totalResults>{total}</opensearch:totalResults>
  <opensearch:startIndex>{start}</opensearch:startIndex>
  <opensearch:itemsPerPage>{len(entries)}</opensearch:itemsPerPage>
{"".join(entries)}</feed>
""".encode()


class FakeArxiv:
    """The export API's `search_query=cat:<cat>` paging, newest first by `sortBy`: submittedDate
    (`published`, the default) or lastUpdatedDate (`updated`, the latest version's date)."""

    def __init__(self, papers: list[dict], *, error_entry: bool = False) -> None:
        self.papers = papers
        self.error_entry = error_entry

    def __call__(self, request: Request) -> Reply:
        category = request.query.get("search_query", "").removeprefix("cat:")
        start = int(request.query.get("start", "0"))
        size = int(request.query.get("max_results", "10"))
        by = "updated" if request.query.get("sortBy") == "lastUpdatedDate" else "published"
        hits = sorted(
            (p for p in self.papers if p["category"] == category),
            key=lambda p: p[by],
            reverse=True,
        )
        entries = [atom_entry(p) for p in hits[start : start + size]]
        if self.error_entry and start == 0:
            entries.insert(0, ERROR_ENTRY)
        return Reply(
            200, atom_feed(entries, len(hits), start), [("Content-Type", "application/atom+xml")]
        )


# ------------------------------------------------------------------------------------- params
def scrape_params(
    github_url: str,
    arxiv_url: str | None = None,
    *,
    repos: tuple[str, ...] = ("o/r",),
    categories: tuple[str, ...] = ("cs.LG",),
    offline: bool = False,
    github: dict | None = None,
    arxiv: dict | None = None,
) -> ScrapeParams:
    """Validated scrape params pointed at replay servers, with small test-friendly values."""
    return ScrapeParams.model_validate(
        {
            "offline": offline,
            "github": {
                "api_url": github_url,
                "repos": list(repos),
                "max_issues_per_repo": 500,
                "per_page": 100,
                "timeout_s": 5,
                "max_retries": 2,
                "backoff_s": 0.01,
                "max_rate_limit_wait_s": 10,
                "secondary_rate_limit_wait_s": 0.05,
                "overlap_s": 0,
                "max_response_mb": 5,
                **(github or {}),
            },
            "arxiv": {
                "api_url": arxiv_url or github_url,
                "categories": list(categories),
                "max_results_per_category": 200,
                "page_size": 50,
                "delay_s": 3.0,
                "timeout_s": 5,
                "max_retries": 2,
                "backoff_s": 0.01,
                "rate_limit_wait_s": 0.05,
                "max_rate_limit_wait_s": 10,
                "overlap_s": 0,
                "lookback_s": 7 * 86400,  # the shipped window for late announcements
                "max_response_mb": 5,
                **(arxiv or {}),
            },
        }
    )
