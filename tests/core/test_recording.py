"""Recording what a channel aired, and the frames track that replays it exactly."""

from __future__ import annotations

from typing import Any

import pytest

from streamer.core.channel import Channel
from streamer.core.errors import Conflict, TimelineError
from streamer.core.program import AudioCue
from streamer.core.reactions import make_reaction
from streamer.core.resolve import resolve
from streamer.core.timeline import parse_timeline, timeline_to_json
from tests.core.test_reactions import RIG, talking

KEY_A, KEY_B = "endpoints/neutral__front.png", "endpoints/talk__front.png"


def frames_doc(frames: list[list[Any]], **extra: Any) -> dict[str, Any]:
    return {
        "version": 1,
        "start": {"expr": "neutral", "pose": "front"},
        "tracks": {"frames": [{"t_ms": t, "key": k} for t, k in frames]},
        **extra,
    }


def test_a_frames_track_is_its_own_schedule() -> None:
    doc = frames_doc([[0, KEY_A], [40, KEY_B], [40, KEY_A], [900, KEY_B]], duration_ms=1000)
    timeline = parse_timeline(doc)
    schedule = resolve(timeline, RIG)
    assert schedule.duration_ms == 1000 and [list(c) for c in schedule.changes] == [
        [0, KEY_A],
        [40, KEY_B],
        [40, KEY_A],
        [900, KEY_B],
    ]
    assert schedule.key_at(40) == KEY_A, "the last of several changes at one time wins"
    assert timeline_to_json(timeline)["tracks"]["frames"] == doc["tracks"]["frames"]
    assert not timeline.idle_blink


@pytest.mark.parametrize(
    ("doc", "error"),
    [
        (frames_doc([[10, KEY_A]]), r"tracks.frames\[0\]: t_ms must be 0"),
        (frames_doc([[0, KEY_A], [50, KEY_B], [20, KEY_A]]), r"tracks.frames\[2\]: t_ms 20 is not after"),
        (frames_doc([[0, "../x.png"]]), r"tracks.frames\[0\].key: invalid frame key"),
        (
            {**frames_doc([]), "tracks": {"frames": [{"t_ms": 0, "key": KEY_A}], "pose": [{"t_ms": 0, "pose": "x"}]}},
            "it cannot also have tracks.pose",
        ),
    ],
)
def test_bad_frames_tracks_name_the_item(doc: dict[str, Any], error: str) -> None:
    with pytest.raises(TimelineError, match=error):
        parse_timeline(doc)


def test_a_frame_the_rig_lacks_is_named() -> None:
    with pytest.raises(TimelineError, match=r"tracks.frames\[1\].key: the rig has no frame 'endpoints/nope.png'"):
        resolve(parse_timeline(frames_doc([[0, KEY_A], [5, "endpoints/nope.png"]])), RIG)


def test_a_recording_is_the_plan_as_it_aired_with_audio_cut_where_it_stopped() -> None:
    ch = Channel("r", RIG, now_ms=0, lookahead_ms=1500, batch_ms=250, lead_ms=100)
    ch.tick(0)
    assert ch.record_start(500) == {"recording": True, "start_ms": 500}
    with pytest.raises(Conflict, match="already recording"):
        ch.record_start(600)
    ch.play(600, talking(3200), audio=AudioCue("/audio/a.ogg", 0, 3000))  # 700 .. 3900
    aired: dict[int, str] = {}
    for now in range(600, 4000, 50):
        if now == 1200:
            ch.react(now, make_reaction("nod", RIG))
        if now == 2000:
            ch.interrupt(now)  # cut at 2100
        for t in range(now, now + 50):
            aired[t] = ch.key_at(t)  # what shows at t, as planned at t (never changed afterwards)
        ch.tick(now + 50)
    recording = ch.record_stop(4000)
    assert ch.recorder is None
    with pytest.raises(Conflict, match="not recording"):
        ch.record_stop(4100)
    schedule = resolve(parse_timeline(recording.timeline(("neutral", "front"), "mix.ogg")), RIG)
    assert schedule.duration_ms == 3500
    assert all(schedule.key_at(t - 500) == aired[t] for t in range(600, 4000)), "frame for frame"
    assert [(a.url, a.start_ms, a.until_ms) for a in recording.audio] == [("/audio/a.ogg", 700, 2100)]


def test_a_rig_switch_ends_the_recorded_frames() -> None:
    ch = Channel("r", RIG, now_ms=0, lead_ms=100)
    ch.record_start(0)
    ch.tick(500)
    ch.switch_rig(500, RIG, "again")
    ch.tick(2000)
    recording = ch.record_stop(2000)
    assert (recording.end_ms, recording.ended_by) == (600, "rig")
