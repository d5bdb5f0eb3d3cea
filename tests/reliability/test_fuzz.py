"""Hypothesis fuzzing of every JSON route and the WebSocket protocol against a real server.

Invariants: no request gets a 5xx; every 4xx has a JSON body with a non-empty ``error``; the
server stays up (``GET /health`` answers 200 afterwards). On the socket, every bad message
gets an ``error`` message (and the connection still answers a ping) or one of the documented
close codes, never a silent 1000, a 1011 or a dropped connection. ``STREAMER_FUZZ_EXAMPLES``
sets the cases per route (2,000 by default).
"""

from __future__ import annotations

import json
import os
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from tests.reliability.conftest import DOCUMENTED_CLOSE_CODES, JSON, assert_clean_rejection
from tests.reliability.payloads import (
    INVALID_UTF8,
    NASTY_BODIES,
    TARGETS,
    WEIRD_VALUES,
    Raw,
    Target,
    encode,
    paths,
    replace_at,
)
from tests.server.conftest import LiveServer

EXAMPLES = int(os.environ.get("STREAMER_FUZZ_EXAMPLES", 2000))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)

# -- strategies ------------------------------------------------------------------------------

SURROGATES = st.sampled_from(["\ud800", "a\udfffb", "\udbff\udc00\ud800"])
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12) | SURROGATES,
    # Objects from pairs: a duplicate key is fine (the last wins) and cheaper than a unique draw.
    lambda children: (
        st.lists(children, max_size=3)
        | st.lists(st.tuples(st.text(max_size=6) | SURROGATES, children), max_size=3).map(dict)
    ),
    max_leaves=6,
)
WEIRD = st.sampled_from(WEIRD_VALUES).map(Raw) | JSON_VALUES


@st.composite
def mutated(draw: st.DrawFn, seeds: tuple[Any, ...]) -> bytes:
    """A valid body with a few bytes flipped, inserted, deleted or duplicated."""
    data = bytearray(encode(draw(st.sampled_from(seeds))))
    for _ in range(draw(st.integers(1, 6))):
        pos = draw(st.integers(0, len(data)))
        op = draw(st.sampled_from(["flip", "insert", "delete", "dup"]))
        if op == "flip" and pos < len(data):
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=4) | st.sampled_from([*INVALID_UTF8, b"\\ud800", b"["]))
        elif op == "delete":
            del data[pos : pos + draw(st.integers(1, 8))]
        else:
            data[pos:pos] = data[pos : pos + draw(st.integers(1, 16))]
    return bytes(data)


@st.composite
def replaced(draw: st.DrawFn, seeds: tuple[Any, ...]) -> bytes:
    """A valid body with one value replaced by a weird one, maybe an extra field, maybe raw surrogates."""
    doc = draw(st.sampled_from(seeds))
    doc = replace_at(doc, draw(st.sampled_from(paths(doc))), draw(WEIRD))
    if isinstance(doc, dict) and draw(st.booleans()):
        doc = {**doc, draw(st.text(max_size=12) | SURROGATES): draw(WEIRD)}
    return encode(doc, ascii_only=draw(st.booleans()))


def bodies(seeds: tuple[Any, ...]) -> st.SearchStrategy[bytes]:
    return st.one_of(
        st.sampled_from(NASTY_BODIES),
        st.binary(max_size=300),
        mutated(seeds),
        replaced(seeds),
        JSON_VALUES.map(encode),
    )


BODIES = {name: bodies(target.valid) for name, target in TARGETS.items()}

# -- REST -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(TARGETS))
@FUZZ
@given(data=st.data())
def test_json_routes_answer_every_body_with_a_clean_4xx_or_success(
    name: str, data: st.DataObject, http: httpx.Client
) -> None:
    target: Target = TARGETS[name]
    body = data.draw(BODIES[name], label="body")
    response = http.request(target.method, target.path, content=body, headers=JSON)
    event(f"HTTP {response.status_code}")
    assert_clean_rejection(response, f"{target.method} {target.path} {body[:120]!r}")


@FUZZ
@given(
    fps=st.text(max_size=12) | st.sampled_from(["60", "0", "-1", "1e9", "NaN", "9" * 5000, "30000/1001", "1/0"]),
    timeline_id=st.sampled_from(["hello", "fuzzed", "..", "%2e%2e", "a" * 300, "\u00e9", "x\x00"]),
)
def test_schedule_query_parameters_are_checked(fps: str, timeline_id: str, http: httpx.Client) -> None:
    response = http.get(f"/timelines/{quote(timeline_id, safe='')}/schedule", params={"fps": fps})
    assert_clean_rejection(response, f"schedule {timeline_id!r} fps={fps[:40]!r}")


# -- WebSocket ------------------------------------------------------------------------------

WS_SEEDS: tuple[dict[str, Any], ...] = (
    {"type": "ping", "id": 1, "client_time": 12.5},
    {"type": "set", "id": 2, "expr": "happy_soft", "pose": "center", "transition_ms": 200},
    {"type": "stop", "id": 3},
    {"type": "play", "id": 4, "timeline_id": "hello"},
    {"type": "play", "id": 5, "timeline": TARGETS["validate_timeline"].valid[0], "at_ms": 0},
    {"type": "watch_export", "id": 6, "export_id": "nope"},
    {"type": "auth", "id": 7, "token": "guess"},
)
WS_NASTY: tuple[bytes, ...] = (
    b"[" * 60_000,
    b'{"type": "ping", "id": ' + b"9" * 5000 + b"}",
    b'{"type": "\\ud800"}',
    b'{"type": "set", "expr": "\\udfff"}',
    b'{"type": "set", "expr": "\xff"}',
    b"",
    b"null",
    b'{"type": "play", "at_ms": 1' + b"0" * 30 + b', "timeline_id": "hello"}',
)


@st.composite
def ws_frames(draw: st.DrawFn) -> tuple[bool, bytes]:
    """(is a text frame, payload). Text payloads may be invalid UTF-8 on purpose."""
    payload = draw(
        st.one_of(
            st.sampled_from(WS_NASTY),
            st.binary(max_size=200),
            mutated(WS_SEEDS),
            replaced(WS_SEEDS),
            JSON_VALUES.map(encode),
            st.builds(
                lambda kind, fields: encode({"type": kind, **fields}),
                st.text(max_size=12) | st.sampled_from(["ping", "set", "play", "stop", "watch_export", "hello"]),
                st.dictionaries(st.sampled_from(["id", "expr", "pose", "timeline", "timeline_id", "at_ms"]), WEIRD),
            ),
        )
    )
    return draw(st.booleans()), payload


def _next_reply(ws: ClientConnection) -> dict[str, Any]:
    """The next reply to this connection (error, ack or pong), skipping channel broadcasts."""
    while True:
        message = json.loads(ws.recv(timeout=15))
        if message.get("type") in ("error", "ack", "pong"):
            return dict(message)


def _ws_url(server: LiveServer) -> str:
    return f"ws://127.0.0.1:{server.port}/ws?channel=fuzzws&role=controller"


@FUZZ
@given(frame=ws_frames())
def test_websocket_answers_every_message_with_an_error_or_a_documented_close(
    frame: tuple[bool, bytes], module_server: LiveServer
) -> None:
    is_text, payload = frame
    with connect(_ws_url(module_server), open_timeout=15, close_timeout=3, max_size=None, compression=None) as ws:
        try:
            ws.send(payload, text=is_text)
            reply = _next_reply(ws)
            event(f"{'text' if is_text else 'binary'}: {reply['type']} {reply.get('code', '')}")
            if reply["type"] == "error":
                assert isinstance(reply.get("code"), str) and reply["code"], reply
                assert isinstance(reply.get("message"), str) and reply["message"], reply
            ws.send(json.dumps({"type": "ping", "id": "after", "client_time": 0}))
            pong = _next_reply(ws)
            assert pong["type"] == "pong" and pong["id"] == "after", pong
        except ConnectionClosed as exc:
            code = exc.rcvd.code if exc.rcvd is not None else 1006
            event(f"{'text' if is_text else 'binary'}: closed {code}")
            reason = exc.rcvd.reason if exc.rcvd is not None else ""
            assert code in DOCUMENTED_CLOSE_CODES, f"closed with {code} {reason!r} after {payload[:120]!r}"


def test_the_server_is_up_and_its_data_intact_after_the_fuzz(http: httpx.Client) -> None:
    # Runs last in this module: after every fuzz test above.
    assert http.get("/health").status_code == 200
    assert http.get("/timelines/hello").status_code == 200
    assert http.get("/channels/fuzz").status_code == 200
    listed = http.get("/timelines").json()
    assert all(item["duration_ms"] is not None for item in listed), listed
