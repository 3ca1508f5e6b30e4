"""A real webhook receiver on 127.0.0.1 for the notification tests (unit and flows)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Webhook:
    """A real HTTP receiver on 127.0.0.1 that records every JSON body POSTed to it."""

    def __init__(self) -> None:
        self.received: list[dict] = []
        self.statuses: list[int] = []  # answers to give, in order; then 200
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                status = hook.statuses.pop(0) if hook.statuses else 200
                hook.received.append({"status": status, **json.loads(body)})
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def events(self) -> list[str]:
        return [r["event"] for r in self.received if r["status"] == 200]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
