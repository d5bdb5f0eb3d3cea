"""docs/protocol.md is the protocol: every message and error code it lists exists, and every one that exists is listed.

The server's messages are found in its source (each ``{"type": ...}`` it builds), the browser
client's in client/protocol.js, and the commands the server accepts by asking a real server.
"""

from __future__ import annotations

import ast
import asyncio
import json
import re
from pathlib import Path

import websockets

from streamer.server.errors import ERROR_CODES
from tests.server.conftest import REPO, LiveServer

PROTOCOL = (REPO / "docs" / "protocol.md").read_text(encoding="utf-8")
# Where protocol messages are built: the sans-I/O channel and the server (and a live/ package, if one appears).
SOURCES = [REPO / "streamer" / "core" / name for name in ("channel.py", "program.py")]
SOURCES += sorted((REPO / "streamer" / "server").glob("*.py"))  # (not reference/: JSON schemas, not messages)
SOURCES += sorted((REPO / "streamer" / "live").glob("**/*.py"))


def table_types(heading: str) -> set[str]:
    """The backquoted first column of the table under ``## heading``."""
    section = PROTOCOL.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `(\w+)` \|", section, flags=re.M))


def built_types(path: Path) -> set[str]:
    """The ``type`` of every dict literal in ``path`` that has a constant ``"type"`` key."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                is_type = isinstance(key, ast.Constant) and key.value == "type"
                if is_type and isinstance(value, ast.Constant) and isinstance(value.value, str):
                    found.add(value.value)
    return found


def server_types() -> set[str]:
    return set().union(*(built_types(p) for p in SOURCES))


def client_js() -> str:
    return (REPO / "client" / "protocol.js").read_text(encoding="utf-8")


def test_every_message_the_server_sends_is_documented_and_vice_versa() -> None:
    documented = table_types("Server to viewer")
    assert len(documented) >= 8, documented
    assert server_types() == documented


def test_the_browser_client_knows_exactly_the_documented_server_messages() -> None:
    body = client_js().split("const VALIDATORS = {", 1)[1].split("\n};", 1)[0]
    known = set(re.findall(r"^  (\w+)\(m\) \{", body, flags=re.M))
    assert known == table_types("Server to viewer")


def test_every_message_the_browser_client_sends_is_documented() -> None:
    sent = set(re.findall(r"\{ type: '(\w+)'", client_js()))
    assert sent and sent <= table_types("Viewer to server")


def test_every_error_code_is_documented_and_vice_versa() -> None:
    section = PROTOCOL.split("\n## Errors and closing\n", 1)[1].split("Close codes", 1)[0]
    documented = set(re.findall(r"`(\w+)`", section)) - {"error", "code"}
    used = {code for _, code in ERROR_CODES}
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            called = isinstance(node, ast.Call) and getattr(node.func, "id", None) == "error_message"
            if called and node.args and isinstance(node.args[0], ast.Constant):
                used.add(node.args[0].value)
    assert used == documented


async def _replies(url: str, messages: list[dict[str, object]]) -> list[dict[str, object]]:
    """Each message's reply (the first message echoing its id) on a controller connection."""
    out = []
    async with websockets.connect(url) as ws:
        for message in messages:
            await ws.send(json.dumps(message))
            while True:
                reply = json.loads(await asyncio.wait_for(ws.recv(), 10))
                if reply.get("id") == message["id"]:
                    out.append(reply)
                    break
    return out


def test_the_server_accepts_every_documented_command_and_no_other(server: LiveServer) -> None:
    documented = table_types("Viewer to server")
    url = server.base_url.replace("http", "ws", 1) + "/ws?channel=doc&role=controller"
    probes = [{"type": kind, "id": f"probe-{kind}"} for kind in sorted(documented)]
    probes.append({"type": "not_in_the_doc", "id": "probe-other"})
    replies = asyncio.run(_replies(url, probes))
    for probe, reply in zip(probes[:-1], replies[:-1], strict=True):
        # A bare probe may be a bad command (missing fields): what matters is that it is known.
        assert reply.get("code") != "unknown_type", (probe, reply)
    assert replies[-1]["code"] == "unknown_type"
