"""The Director's pure document module (director-model.js), exercised in the browser that runs it."""

from __future__ import annotations

from typing import Any

from tests.browser.conftest import LiveServer
from tests.browser.test_client_modules import run_module


def test_snapping_prefers_word_edges_then_frames(live_server: LiveServer, page: Any) -> None:
    snapped = run_module(
        page,
        live_server,
        """
        const m = await import('/client/director-model.js');
        const words = [{t_ms: 1000, end_ms: 1300, text: 'a'}];
        return [
          m.snapTime(1010, {words, fps: 24, tolMs: 40}),  // near a word start
          m.snapTime(1290, {words, fps: 24, tolMs: 40}),  // near a word end
          m.snapTime(1100, {words, fps: 24, tolMs: 40}),  // else the nearest 24 fps frame: 1083
          m.snapTime(-30, {fps: 24}),
        ];
        """,
    )
    assert snapped == [1000, 1300, 1083, 0]


def test_a_server_error_names_the_item_in_the_editors_order(live_server: LiveServer, page: Any) -> None:
    found = run_module(
        page,
        live_server,
        """
        const m = await import('/client/director-model.js');
        const doc = m.normalize({version: 1, tracks: {speech: [
          {t_ms: 500, end_ms: 600, viseme: 'a'},
          {t_ms: 0, end_ms: 300, viseme: 'b'},
          {t_ms: 200, end_ms: 400, viseme: 'c'},
        ]}});
        const {doc: sent, order} = m.serialize(doc);
        return {
          times: sent.tracks.speech.map((c) => c.t_ms),
          tracks: Object.keys(sent.tracks),
          item: m.itemOfError('tracks.speech[1]: starts at 200 before the previous cue ends at 300', order),
          field: m.itemOfError('tracks.speech[2].end_ms: bad', order),
          other: m.itemOfError('duration_ms: bad', order),
        };
        """,
    )
    assert found["times"] == [0, 200, 500]
    assert found["tracks"] == ["speech"]  # empty tracks are not sent
    assert found["item"] == {"track": "speech", "index": 2}  # sorted [1] is the editor's item 2
    assert found["field"] == {"track": "speech", "index": 0}
    assert found["other"] is None


def test_edits_undo_redo_and_paste(live_server: LiveServer, page: Any) -> None:
    result = run_module(
        page,
        live_server,
        """
        const m = await import('/client/director-model.js');
        const doc = m.normalize({version: 1, tracks: {emotion: [{t_ms: 100, expr: 'happy_soft', transition_ms: 300}],
                                                     words: [{t_ms: 50, end_ms: 250, text: 'hi'}]}});
        const h = new m.History();
        h.push(doc);
        const origin = [{track: 'emotion', index: 0, t_ms: 100}, {track: 'words', index: 0, t_ms: 50, end_ms: 250}];
        const dt = m.moveItems(doc, origin, -500);  // clamped: nothing before 0
        const moved = [doc.tracks.emotion[0].t_ms, doc.tracks.words[0].t_ms, doc.tracks.words[0].end_ms];
        const undone = h.undo(doc);
        const redone = h.redo(undone);
        const clip = m.copyItems(redone, ['emotion:0', 'words:0']);
        const keys = m.pasteItems(redone, clip, 1000);
        m.resizeItem(redone, 'emotion', 1, 1600);
        return {dt, moved, undone: undone.tracks.emotion[0].t_ms, redone: redone.tracks.emotion[0].t_ms, keys,
                pasted: [redone.tracks.emotion[1], redone.tracks.words[1]], gone: m.deleteItems(redone, keys)};
        """,
    )
    assert result["dt"] == -50 and result["moved"] == [50, 0, 200]
    assert (result["undone"], result["redone"]) == (100, 50)
    assert result["keys"] == ["emotion:1", "words:1"]
    assert result["pasted"] == [
        {"t_ms": 1050, "expr": "happy_soft", "transition_ms": 550},  # resized: its transition ends at 1600
        {"t_ms": 1000, "end_ms": 1200, "text": "hi"},
    ]
    assert result["gone"] == 2
