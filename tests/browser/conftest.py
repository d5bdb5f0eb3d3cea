"""Headless Chromium (Playwright) against the real app under uvicorn on a loopback port."""

from __future__ import annotations

import json
import os
import shutil
import socket
import threading
import time
import urllib.request
from bisect import bisect_right
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest
import uvicorn

from streamer.server.app import create_app
from streamer.server.run import uvicorn_config
from streamer.settings import Settings

REPO = Path(__file__).resolve().parents[2]
CHROMIUM_NAMES = ("chromium", "chromium-browser")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--autoplay-policy=no-user-gesture-required",
]


def in_ci() -> bool:
    """Whether this is a CI run (``.ci/run`` sets ``CI=1``), where a missing browser fails instead of skipping."""
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


def _missing(reason: str) -> NoReturn:
    if in_ci():
        pytest.fail(f"{reason}, and CI is set: a CI run must not skip the browser tests")
    pytest.skip(reason)


def _chromium() -> str:
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    _missing("browser tests need Chromium on PATH (apt-get install -y chromium); playwright cannot fetch it here")


def _require_playwright() -> None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _missing("browser tests need the playwright package (pip install playwright)")


ONE_FRAME_MS = 1000 / 24


class ScheduleKeys:
    """The frame keys a schedule shows over time (the last change at or before t wins)."""

    def __init__(self, changes: list[list[Any]]) -> None:
        self.times = [int(t) for t, _ in changes]
        self.keys = [str(k) for _, k in changes]

    def index_at(self, t_ms: float) -> int:
        return max(bisect_right(self.times, t_ms) - 1, 0)

    def keys_between(self, t0: float, t1: float) -> set[str]:
        """Every key on screen at some moment of [t0, t1]."""
        return set(self.keys[self.index_at(t0) : self.index_at(t1) + 1])

    def share_on_time(
        self, samples: list[dict[str, Any]], shift_ms: float
    ) -> tuple[float, list[tuple[int, str, set[str]]]]:
        """The share of the player's log samples whose drawn frame is the schedule's at the audio
        time (``audioMs + shift_ms``) within one frame, and the first misses."""
        good, bad = 0, []
        for s in samples:
            t = s["audioMs"] + shift_ms
            expected = self.keys_between(t - ONE_FRAME_MS, t + ONE_FRAME_MS)
            if frame_key(s["url"]) in expected:
                good += 1
            else:
                bad.append((round(t), frame_key(s["url"]), expected))
        return good / max(len(samples), 1), bad[:5]


def frame_key(url: str) -> str:
    path = url.split("?", 1)[0]
    return path.split("/frames/", 1)[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveServer:
    """The app under uvicorn in a thread; can be stopped and started again on the same port."""

    def __init__(self, settings: Settings, port: int) -> None:
        self.settings = settings
        self.port = port
        self.server: uvicorn.Server | None = None
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        config = uvicorn_config(
            create_app(self.settings),
            self.settings,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            timeout_graceful_shutdown=2,
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, name=f"uvicorn-{self.port}", daemon=True)
        thread.start()
        deadline = time.monotonic() + 30
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError(f"uvicorn on port {self.port} exited before it started")
            if time.monotonic() > deadline:
                server.should_exit = True
                raise RuntimeError(f"uvicorn on port {self.port} did not start within 30 s")
            time.sleep(0.02)
        self.server, self.thread = server, thread

    def stop(self) -> None:
        if self.server is None or self.thread is None:
            return
        self.server.should_exit = True
        self.thread.join(timeout=15)
        if self.thread.is_alive():
            raise RuntimeError(f"uvicorn on port {self.port} did not stop within 15 s")
        self.server = self.thread = None

    def get_json(self, path: str) -> Any:
        with urllib.request.urlopen(self.url + path, timeout=10) as res:
            return json.load(res)

    def post_json(self, path: str, body: dict[str, Any]) -> Any:
        req = urllib.request.Request(
            self.url + path, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
        )
        with urllib.request.urlopen(req, timeout=10) as res:
            return json.load(res)


@pytest.fixture(scope="session")
def rig_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repo's ``frames/`` rig; when it is not there, the demo character drawn small (takes a few seconds)."""
    real = REPO / "frames"
    if (real / "rig.json").is_file() or (real / "expressions.json").is_file():
        return real
    from streamer.demo import write_demo_rig

    out = tmp_path_factory.mktemp("rig") / "frames"
    write_demo_rig(out, size=(256, 384))
    return out


# Module scope, not session: Playwright's sync API keeps an event loop running in this thread while it
# is open, which would break the async tests that run after the browser tests.
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    executable = _chromium()
    _require_playwright()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def _serve(rig_dir: Path, data_dir: Path) -> Iterator[LiveServer]:
    settings = Settings.from_env({"STREAMER_FRAMES_DIR": str(rig_dir), "STREAMER_DATA_DIR": str(data_dir)})
    server = LiveServer(settings, free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def live_server(rig_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One server shared by a module's tests (each test uses its own channel)."""
    yield from _serve(rig_dir, tmp_path_factory.mktemp("data"))


@pytest.fixture
def restartable_server(rig_dir: Path, tmp_path: Path) -> Iterator[LiveServer]:
    """A server of the test's own, which the test may stop and start again."""
    yield from _serve(rig_dir, tmp_path / "data")


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh page; console errors and uncaught exceptions are collected on ``page.problems``."""
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    pg = context.new_page()
    problems: list[str] = []
    pg.on("pageerror", lambda exc: problems.append(f"uncaught: {exc}"))
    pg.on("console", lambda msg: problems.append(f"console.{msg.type}: {msg.text}") if msg.type == "error" else None)
    pg.problems = problems
    try:
        yield pg
    finally:
        context.close()
