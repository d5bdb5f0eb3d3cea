"""``streamer serve`` as the Procfile runs it: a real process, public bind, no token."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_on_all_interfaces_without_a_token_starts_and_warns(rig_dir: Path, tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMER_") and k not in ("PORT", "CORS_ORIGINS")}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamer",
            "serve",
            "--host",
            "0.0.0.0",
            "--port",
            str(port),
            "--frames",
            str(rig_dir),
            "--data",
            str(tmp_path / "data"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        deadline = time.monotonic() + 20
        status = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                status = httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).json()["status"]
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert status == "ok"
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    assert f"http://127.0.0.1:{port}/" in out
    assert "/client/obs.html?channel=main" in out
    assert "NO STREAMER_TOKEN SET" in err


def test_a_port_in_use_is_one_error_line_before_any_url(rig_dir: Path, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMER_") and k != "PORT"}
        argv = ["serve", "--port", str(port), "--rig", str(rig_dir), "--data", str(tmp_path / "data")]
        done = subprocess.run(
            [sys.executable, "-m", "streamer", *argv], capture_output=True, text=True, env=env, timeout=60
        )
    assert done.returncode == 2
    assert done.stdout == ""  # no URLs printed for a server that is not running
    assert done.stderr.splitlines() == [
        f"error: port {port} on 127.0.0.1 is already in use (another `streamer serve`?); choose one with --port"
    ]
