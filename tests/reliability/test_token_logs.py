"""No log line of a whole server run, at DEBUG, contains the control token or a wrong guess at it.

``streamer serve --log-level debug`` runs as a process and everything it writes (uvicorn,
websockets, our loggers) is captured. Every way of presenting a token is exercised, good and
wrong: the WebSocket URL, an ``Authorization`` header on the upgrade, a first ``auth`` message,
REST writes with the header or ``?token=``, and reads and unknown paths with ``?token=``.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import httpx
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from tests.reliability.conftest import JSON, ServerProcess

GOOD = "good-Tok3n-6f1d2c88"
WRONG = "wrong-Gu3ss-a9b8e7d6"
DOC = {"version": 1, "tracks": {}, "duration_ms": 500}


def _controller(port: int, query: str = "", headers: dict[str, str] | None = None, auth: str | None = None) -> None:
    """Open a controller socket, maybe authenticate by message, send a command, read what comes back."""
    url = f"ws://127.0.0.1:{port}/ws?role=controller&channel=main{query}"
    refused = (ConnectionClosed, InvalidStatus, TimeoutError)
    with contextlib.suppress(*refused), connect(url, additional_headers=headers, open_timeout=10) as ws:
        if auth is not None:
            ws.send(json.dumps({"type": "auth", "token": auth}))
        ws.send(json.dumps({"type": "set", "id": 1, "expr": "happy_soft", "transition_ms": 0}))
        for _ in range(20):
            if json.loads(ws.recv(timeout=3)).get("type") in ("ack", "error"):
                break


def test_no_log_line_contains_a_token(rig_dir: Path, tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data", tmp_path / "server.log", rig_dir, log_level="debug", STREAMER_TOKEN=GOOD)
    server.start()
    try:
        statuses = {}
        for token in (GOOD, WRONG):
            _controller(server.port, query=f"&token={token}")
            _controller(server.port, headers={"Authorization": f"Bearer {token}"})
            _controller(server.port, auth=token)
            with httpx.Client(base_url=server.base_url, timeout=10) as http:
                bearer = {**JSON, "Authorization": f"Bearer {token}"}
                statuses[token] = [
                    http.put("/timelines/logged", json=DOC, headers=bearer).status_code,
                    http.post("/channels/main/set", json={"expr": "neutral"}, headers=bearer).status_code,
                    http.post("/timelines", params={"token": token}, json=DOC, headers=JSON).status_code,
                    http.post(f"/channels/main/set?token={token}", json={"pose": "center"}, headers=JSON).status_code,
                    http.get("/health", params={"token": token}).status_code,
                    http.get(f"/no/such/path?token={token}").status_code,
                    http.delete("/timelines/logged", params={"token": token}).status_code,
                ]
    finally:
        server.stop()
    # The run did what it should: the good token wrote, the wrong one was refused.
    assert statuses[GOOD][:4] == [200, 200, 201, 200], statuses
    assert statuses[WRONG][:4] == [401, 401, 401, 401], statuses
    log = server.log()
    assert "/ws" in log and "401" in log, log[-2000:]  # access and rejection lines were logged
    leaks = [line for line in log.splitlines() if GOOD in line or WRONG in line]
    assert leaks == [], "\n".join(leaks[:10])
