"""Fixtures for export tests: the repo's rig, the hello example resolved, ffprobe, and a real server."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from streamer.core.resolve import resolve
from streamer.core.rig import Rig
from streamer.core.schedule import Schedule
from streamer.core.timeline import Timeline, parse_timeline
from streamer.rigload import load_rig
from streamer.server.app import create_app
from streamer.settings import Settings
from tests.server.conftest import LiveServer, ServerThread, serve

REPO = Path(__file__).resolve().parents[2]
RIG_DIR = REPO / "frames"
HELLO = REPO / "examples" / "hello.json"
HELLO_AUDIO = REPO / "examples" / "hello.ogg"


@pytest.fixture(scope="session")
def rig() -> Rig:
    return load_rig(RIG_DIR)


@pytest.fixture(scope="session")
def hello(rig: Rig) -> tuple[Timeline, Schedule]:
    timeline = parse_timeline(json.loads(HELLO.read_text()))
    return timeline, resolve(timeline, rig)


def require_ffprobe() -> str:
    path = shutil.which("ffprobe")
    if path is None:
        pytest.fail("ffprobe is missing: apt-get install -y ffmpeg (it is the independent decoder for these tests)")
    return path


def ffprobe(path: Path, *extra: str) -> dict[str, Any]:
    """ffprobe's JSON for ``path``: streams (with a decoded frame count) and format."""
    cmd = [require_ffprobe(), "-v", "error", "-print_format", "json", "-show_streams", "-show_format", *extra]
    out = subprocess.run([*cmd, str(path)], check=True, capture_output=True, timeout=60).stdout
    return json.loads(out)


@pytest.fixture
def make_server(rig: Rig, tmp_path: Path) -> Iterator[Callable[..., LiveServer]]:
    """Start the real app under uvicorn with ``Settings`` overrides (data in ``tmp_path/data``)."""
    running: list[ServerThread] = []

    def start(**overrides: Any) -> LiveServer:
        settings = Settings.from_env({}).replace(
            frames_dir=RIG_DIR,
            data_dir=tmp_path / "data",
            examples_dir=REPO / "examples",
            client_dir=REPO / "client",
            **overrides,
        )
        return serve(create_app(settings, rig=rig), running)

    yield start
    for thread in running:
        thread.stop()


def wait_for(client: httpx.Client, job_id: str, statuses: tuple[str, ...], timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job = client.get(f"/exports/{job_id}").json()
        if job["status"] in statuses:
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"export {job_id} did not reach {statuses}: {job}")
        time.sleep(0.05)
