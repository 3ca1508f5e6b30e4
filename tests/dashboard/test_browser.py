"""The dashboard in a real browser: `streamlit run` on the fixture project, headless Chromium over
its DevTools protocol, until a Vega-Lite chart has drawn its canvas; then a screenshot.

A plain `chromium --screenshot` races Streamlit's websocket and often captures a blank page, so
the test drives the DevTools websocket itself and polls the DOM with a deadline. The screenshot
lands in the test's tmp dir and, when ADAPTERFLOW_SCREENSHOT_DIR is set, there too.
"""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from websockets.sync.client import connect

from dashboard.files import ROOT_ENV
from tests.processes import free_port, stop_group

pytestmark = pytest.mark.browser

REPO_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHART_CANVAS = '[data-testid="stVegaLiteChart"] canvas'
DEADLINE_S = 120  # first start of Streamlit + Chromium on 2 busy cores takes tens of seconds


def _get(url: str) -> bytes | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (127.0.0.1 only)
            return response.read()
    except OSError:
        return None


def _wait_for(url: str, proc: subprocess.Popen, what: str) -> bytes:
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{what} exited with {proc.returncode} before answering {url}")
        body = _get(url)
        if body is not None:
            return body
        time.sleep(0.5)
    raise AssertionError(f"{what} did not answer {url} within {DEADLINE_S} s")


def _start(args: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    # Own process group, so teardown ends the process and every child it spawned, and only those.
    with log.open("wb") as out:
        return subprocess.Popen(
            args,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=REPO_ROOT,
            start_new_session=True,
        )


@pytest.fixture()
def dashboard_url(facts, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, ROOT_ENV: str(facts.root)}
    args = [sys.executable, "-m", "streamlit", "run", "dashboard/streamlit_app.py"]
    args += ["--server.port", str(port), "--server.address", "127.0.0.1"]
    args += ["--server.headless", "true", "--browser.gatherUsageStats", "false"]
    proc = _start(args, tmp_path / "streamlit.log", env)
    try:
        _wait_for(f"http://127.0.0.1:{port}/_stcore/health", proc, "streamlit")
        yield f"http://127.0.0.1:{port}/"
    finally:
        stop_group(proc, grace_s=10)


@pytest.fixture()
def devtools(tmp_path: Path) -> Iterator[str]:
    """A headless Chromium; yields the websocket URL of its first page."""
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium); browser test skipped")
    port = free_port()
    args = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic"]
    args += ["--no-first-run", "--disable-background-networking", "--disable-component-update"]
    args += ["--disable-sync", f"--remote-debugging-port={port}"]
    args += [f"--user-data-dir={tmp_path / 'chromium-profile'}", "--window-size=1400,1800"]
    proc = _start([*args, "about:blank"], tmp_path / "chromium.log")
    try:
        _wait_for(f"http://127.0.0.1:{port}/json/version", proc, "chromium")
        targets = json.loads(_get(f"http://127.0.0.1:{port}/json/list") or b"[]")
        page = next(t for t in targets if t.get("type") == "page")
        yield page["webSocketDebuggerUrl"]
    finally:
        stop_group(proc, grace_s=10)


class DevTools:
    """A minimal Chrome DevTools Protocol client: send a command, wait for its answer."""

    def __init__(self, ws) -> None:
        self.ws = ws
        self.next_id = 0

    def call(self, method: str, **params) -> dict:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:  # events arrive in between; skip them
            message = json.loads(self.ws.recv(timeout=60))
            if message.get("id") == self.next_id:
                assert "error" not in message, message["error"]
                return message["result"]

    def evaluate(self, expression: str):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")


def test_dashboard_draws_its_charts_in_a_real_browser(devtools, dashboard_url, tmp_path):
    with connect(devtools, max_size=None, open_timeout=30) as ws:
        tools = DevTools(ws)
        tools.call("Page.enable")
        tools.call("Page.navigate", url=dashboard_url)
        count = f"document.querySelectorAll('{CHART_CANVAS}').length"
        deadline = time.monotonic() + DEADLINE_S
        while (tools.evaluate(count) or 0) < 1:
            if time.monotonic() > deadline:
                text = tools.evaluate("document.body.innerText") or ""
                raise AssertionError(f"no {CHART_CANVAS} within {DEADLINE_S} s; page: {text[:800]}")
            time.sleep(0.5)
        time.sleep(2)  # let Vega finish drawing every mark into the canvas it just created
        body = tools.evaluate("document.body.innerText")
        shot = tools.call("Page.captureScreenshot", format="png")

    png = base64.b64decode(shot["data"])
    path = tmp_path / "dashboard.png"
    path.write_bytes(png)
    if os.environ.get("ADAPTERFLOW_SCREENSHOT_DIR"):
        keep = Path(os.environ["ADAPTERFLOW_SCREENSHOT_DIR"])
        keep.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, keep / "dashboard.png")

    assert "v0002" in body and "Champion" in body  # the champion from the fixture registry
    assert "Traceback" not in body
    image = Image.open(io.BytesIO(png)).convert("RGB")
    assert image.width >= 1000 and len(png) > 20_000
    colours = image.getcolors(maxcolors=1 << 20)
    assert colours is None or len(colours) > 50, "the screenshot is (almost) a single colour"
