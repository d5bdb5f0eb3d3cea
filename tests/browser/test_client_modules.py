"""The client's pure modules (protocol, frame queue, clock), exercised in the browser that runs them."""

from __future__ import annotations

from typing import Any

from tests.browser.conftest import LiveServer


def run_module(page: Any, server: LiveServer, body: str) -> Any:
    """Evaluate ``body`` (an async function body) on a page of the server's origin, so imports resolve."""
    page.goto(f"{server.url}/health")
    return page.evaluate(f"async () => {{ {body} }}")


def test_protocol_rejects_unknown_and_malformed_server_messages(live_server: LiveServer, page: Any) -> None:
    errors = run_module(
        page,
        live_server,
        """
        const p = await import('/client/protocol.js');
        const attempt = (text) => {
          try { p.parseServerMessage(text); return null; } catch (e) { return [e.name, e.message]; }
        };
        return [
          attempt('{"type": "surprise"}'),
          attempt('not json'),
          attempt('[1, 2]'),
          attempt('{"type": "frames", "from_ms": 5}'),
          attempt('{"type": "frames", "from_ms": 5, "frames": [[10, "/a.png"], [7, "/b.png"]]}'),
          attempt('{"type": "pong", "id": 1, "client_time": 3}'),
          attempt('{"type": "frames", "from_ms": 5, "frames": [[10, "/a.png"], [10, "/b.png"]]}'),
          attempt('{"type": "error", "code": "not_found", "message": "no timeline", "id": "r1"}'),
        ];
        """,
    )
    assert errors[0] == ["ProtocolError", 'unknown message type "surprise"']
    assert all(e is not None and e[0] == "ProtocolError" for e in errors[1:6]), errors
    assert "frames" in errors[3][1]
    assert "must not decrease" in errors[4][1]
    assert "server_time_ms" in errors[5][1]
    assert errors[6:] == [None, None]


def test_protocol_builds_commands_as_documented(live_server: LiveServer, page: Any) -> None:
    built = run_module(
        page,
        live_server,
        """
        const p = await import('/client/protocol.js');
        let bad = null;
        try { p.set('x', {expr: 'happy', transitionMs: 70000}); } catch (e) { bad = e.message; }
        return [
          p.ping(1, 12.5),
          p.play('r1', {timelineId: 'hello'}),
          p.play('r2', {timeline: {version: 1}, atMs: 1234.4}),
          p.stop('r3'),
          p.set('r4', {expr: 'happy_big', transitionMs: 0}),
          p.set('r5', {pose: 'center'}),
          bad,
          p.isFatalClose(4001), p.isFatalClose(4008), p.isFatalClose(1012),
        ];
        """,
    )
    assert built[:6] == [
        {"type": "ping", "id": 1, "client_time": 12.5},
        {"type": "play", "id": "r1", "timeline_id": "hello"},
        {"type": "play", "id": "r2", "timeline": {"version": 1}, "at_ms": 1234},
        {"type": "stop", "id": "r3"},
        {"type": "set", "id": "r4", "expr": "happy_big", "transition_ms": 0},
        {"type": "set", "id": "r5", "pose": "center"},
    ]
    assert "transition_ms" in built[6]
    assert built[7:] == [True, False, False]


def test_frame_queue_replaces_from_time_and_last_of_equal_times_wins(live_server: LiveServer, page: Any) -> None:
    result = run_module(
        page,
        live_server,
        """
        const { FrameQueue } = await import('/client/frames.js');
        const q = new FrameQueue();
        q.replaceFrom(0, [[0, 'a'], [100, 'b'], [200, 'c'], [300, 'd']]);
        const before = [q.at(-1), q.at(0)[1], q.at(150)[1], q.at(1000)[1]];
        q.replaceFrom(200, [[200, 'x'], [250, 'y'], [250, 'z']]);   // a command re-planned from 200
        const after = q.items.map(([t, u]) => `${t}:${u}`);
        const tie = q.at(260)[1];
        q.replaceFrom(400, []);                                       // a top-up that drops nothing
        const kept = q.length;
        q.replaceFrom(100, []);                                       // cancel from 100 on
        return { before, after, tie, kept, cancelled: q.items.map(([t, u]) => `${t}:${u}`),
                 upcoming: (() => { const r = new FrameQueue();
                   r.replaceFrom(0, [[0, 'a'], [50, 'b'], [60, 'a'], [2000, 'c']]); return r.upcoming(10, 1500); })() };
        """,
    )
    assert result["before"] == [None, "a", "b", "d"]
    assert result["after"] == ["0:a", "100:b", "200:x", "250:y", "250:z"]
    assert result["tie"] == "z"
    assert result["kept"] == 5
    assert result["cancelled"] == ["0:a"]
    assert result["upcoming"] == ["a", "b"]


def test_server_clock_keeps_the_smallest_round_trip_and_resets(live_server: LiveServer, page: Any) -> None:
    result = run_module(
        page,
        live_server,
        """
        const { ServerClock } = await import('/client/clock.js');
        let t = 1000;
        const c = new ServerClock({ now: () => t });
        const before = c.serverNow();
        c.seed(50000);                              // hello: rough, latency unknown
        const rough = c.serverNow();
        c.addSample(1000, 50100, 1100);              // rtt 100: offset 49050
        c.addSample(1200, 50212, 1220);              // rtt 20: offset 49002
        c.addSample(1300, 50400, 1500);              // rtt 200: ignored in favour of rtt 20
        const best = [c.offsetMs, c.rttMs, c.synced];
        c.reset();                                   // reconnect: maybe a restarted server
        return { before, rough, best, after: [c.offsetMs, c.synced] };
        """,
    )
    assert result["before"] is None
    assert result["rough"] == 50000
    assert result["best"] == [49002, 20, True]
    assert result["after"] == [None, False]
