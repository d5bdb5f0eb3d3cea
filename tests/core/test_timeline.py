"""Timeline parsing, validation against a rig, and serialization."""

from __future__ import annotations

import json
from typing import Any

import pytest

from streamer.core.errors import StreamerError, TimelineError
from streamer.core.resolve import resolve
from streamer.core.rig import Rig, State
from streamer.core.timeline import (
    DEFAULT_TRANSITION_MS,
    MAX_DURATION_MS,
    MAX_ITEMS,
    TAIL_MS,
    AudioRef,
    BlinkCue,
    EmotionKey,
    PoseKey,
    SpeechCue,
    Timeline,
    WordSpan,
    check_against_rig,
    loads,
    parse_timeline,
    timeline_to_json,
)
from tests.rigs import make_rig

FULL_V1: dict[str, Any] = {
    "version": 1,
    "start": {"expr": "neutral", "pose": "center"},
    "audio": {"id": "hello-world.wav", "offset_ms": -120},
    "tracks": {
        "emotion": [{"t_ms": 0, "expr": "happy_soft", "transition_ms": 400}, {"t_ms": 3000, "expr": "concerned"}],
        "speech": [
            {"t_ms": 620, "end_ms": 780, "viseme": "speaking_ee", "phoneme": "EH1", "word": "hello"},
            {"t_ms": 780, "end_ms": 900, "viseme": "oh_round", "transition_ms": 40},
        ],
        "pose": [{"t_ms": 1500, "pose": "tilt_left_small", "transition_ms": 500}],
        "words": [{"t_ms": 620, "end_ms": 1010, "text": "hello"}],
        "blink": [{"t_ms": 2000}, {"t_ms": 2500, "duration_ms": 200}],
    },
    "idle": {"blink": False, "seed": 7},
    "duration_ms": 5200,
    "meta": {"title": "greeting"},
}


@pytest.fixture(scope="module")
def rig() -> Rig:
    return make_rig()


def _v1(**tracks: Any) -> dict[str, Any]:
    return {"version": 1, "tracks": tracks}


def _error(data: object) -> str:
    with pytest.raises(TimelineError) as exc_info:
        parse_timeline(data)
    return str(exc_info.value)


def test_parses_a_v1_timeline() -> None:
    timeline = parse_timeline(FULL_V1)
    assert timeline.source == "v1"
    assert timeline.start == State("neutral", "center")
    assert timeline.emotion == (EmotionKey(0, "happy_soft", 400), EmotionKey(3000, "concerned", DEFAULT_TRANSITION_MS))
    assert timeline.speech == (
        SpeechCue(620, 780, "speaking_ee", "EH1", "hello"),
        SpeechCue(780, 900, "oh_round", transition_ms=40),
    )
    assert timeline.pose == (PoseKey(1500, "tilt_left_small", 500),)
    assert timeline.words == (WordSpan(620, 1010, "hello"),)
    assert timeline.blinks == (BlinkCue(2000), BlinkCue(2500, 200))
    assert timeline.audio == AudioRef("hello-world.wav", -120)
    assert (timeline.idle_blink, timeline.seed, timeline.duration_ms) == (False, 7, 5200)
    assert timeline.meta == {"title": "greeting"}


def test_minimal_v1_timeline_has_defaults_and_a_short_hold() -> None:
    timeline = parse_timeline({"version": 1, "tracks": {"emotion": [{"t_ms": 100, "expr": "happy_soft"}]}})
    assert timeline.start == State("neutral", "center")
    assert timeline.idle_blink and timeline.seed == 0 and timeline.audio is None
    assert timeline.duration is None
    assert timeline.duration_ms == 100 + DEFAULT_TRANSITION_MS + TAIL_MS


def test_converts_face_rig_keyframes() -> None:
    keyframes = [
        {"time_ms": 0, "target_expr": "happy_soft", "target_pose": "tilt_left_small"},
        {"time_ms": 1000, "target_expr": "concerned", "transition_duration_ms": 500},
        {"time_ms": 2000, "target_pose": "center"},
    ]
    for data in ({"keyframes": keyframes}, keyframes):
        timeline = parse_timeline(data)
        assert timeline.source == "face_rig"
        assert timeline.start == State("happy_soft", "tilt_left_small")
        assert timeline.emotion == (
            EmotionKey(0, "happy_soft", DEFAULT_TRANSITION_MS),
            EmotionKey(1000, "concerned", 500),
            EmotionKey(2000, "concerned", DEFAULT_TRANSITION_MS),
        )
        assert [p.pose for p in timeline.pose] == ["tilt_left_small", "tilt_left_small", "center"]
        assert not timeline.idle_blink  # face_rig never blinked on its own


def test_face_rig_keyframe_needs_a_target() -> None:
    assert _error([{"time_ms": 0}]) == "keyframe 0: needs target_expr or target_pose"


def test_face_rig_keyframes_must_be_sorted() -> None:
    message = _error([{"time_ms": 500, "target_expr": "neutral"}, {"time_ms": 100, "target_expr": "happy_soft"}])
    assert message.startswith("keyframe 1: time_ms 100 is before the previous keyframe's 500")


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (-1, "got -1"),
        (1.5, "got 1.5"),
        ("10", "got '10'"),
        (True, "got True"),
        (None, "is required"),
        (float("nan"), "got nan"),
        (float("inf"), "got inf"),
    ],
)
def test_bad_times_name_the_field_and_value(value: object, shown: str) -> None:
    message = _error(_v1(emotion=[{"t_ms": 0, "expr": "neutral"}, {"t_ms": value, "expr": "happy_soft"}]))
    assert message.startswith("tracks.emotion[1].t_ms: ")
    assert shown in message


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (_v1(speech=[{"t_ms": 10, "end_ms": 20.5, "viseme": "speaking_ah"}]), "tracks.speech[0].end_ms: "),
        (_v1(pose=[{"t_ms": 10, "pose": "center", "transition_ms": -5}]), "tracks.pose[0].transition_ms: "),
        (_v1(blink=[{"t_ms": 10, "duration_ms": "long"}]), "tracks.blink[0].duration_ms: "),
        ({"version": 1, "idle": {"seed": 1.0}}, "idle.seed: "),
        ({"version": 1, "idle": {"blink": "yes"}}, "idle.blink: must be true or false, got 'yes'"),
        ({"version": 1, "audio": {"id": "a.wav", "offset_ms": "0"}}, "audio.offset_ms: "),
        ({"version": 1, "start": {"expr": 3}}, "start.expr: must be a non-empty string"),
        ({"version": 1, "start": "neutral"}, "start: must be an object, got str"),
        ({"version": 1, "tracks": {"emotion": {"t_ms": 0}}}, "tracks.emotion: must be a list, got dict"),
        (_v1(emotion=[["t_ms", 0]]), "tracks.emotion[0]: must be an object, got list"),
    ],
)
def test_bad_fields_name_the_field(data: object, expected: str) -> None:
    assert _error(data).startswith(expected)


@pytest.mark.parametrize("version", [None, 2, "1", True])
def test_unsupported_versions_are_rejected(version: object) -> None:
    data = {"tracks": {}} if version is None else {"version": version, "tracks": {}}
    assert _error(data) == f"version: unsupported timeline version {version!r} (expected 1)"


def test_non_objects_are_rejected() -> None:
    assert _error("hello") == "timeline: must be an object or a keyframe list, got str"


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_loads_rejects_nan_and_infinity(constant: str) -> None:
    with pytest.raises(TimelineError, match=f"invalid JSON number {constant}"):
        loads('{"version": 1, "tracks": {"emotion": [{"t_ms": ' + constant + ', "expr": "neutral"}]}}')


def test_loads_reports_broken_json_as_a_timeline_error() -> None:
    with pytest.raises(TimelineError, match="^invalid JSON: "):
        loads(b'{"version": 1,')
    assert loads('{"version": 1}') == {"version": 1}


@pytest.mark.parametrize("track", ["emotion", "pose", "blink"])
def test_unsorted_items_are_rejected_not_sorted(track: str) -> None:
    item = {"emotion": {"expr": "neutral"}, "pose": {"pose": "center"}, "blink": {}}[track]
    message = _error(_v1(**{track: [{"t_ms": 200, **item}, {"t_ms": 100, **item}]}))
    assert message == f"tracks.{track}[1]: t_ms 100 is not after the previous item's 200 (items must be sorted)"
    # Two keys at the same millisecond are ambiguous too.
    assert _error(_v1(**{track: [{"t_ms": 200, **item}, {"t_ms": 200, **item}]})).startswith(f"tracks.{track}[1]: ")


def test_words_may_share_a_start_but_not_go_back() -> None:
    def word(t_ms: int, end_ms: int) -> dict[str, Any]:
        return {"t_ms": t_ms, "end_ms": end_ms, "text": "w"}

    assert len(parse_timeline(_v1(words=[word(0, 10), word(0, 20)])).words) == 2
    assert _error(_v1(words=[word(50, 60), word(10, 20)])).startswith("tracks.words[1]: t_ms 10 is not after")
    assert _error(_v1(words=[word(50, 40)])) == "tracks.words[0]: end_ms 40 is before t_ms 50"


def test_overlapping_speech_is_rejected() -> None:
    cues = [{"t_ms": 200, "end_ms": 300, "viseme": "speaking_ah"}, {"t_ms": 250, "end_ms": 400, "viseme": "oh_round"}]
    assert _error(_v1(speech=cues)) == (
        "tracks.speech[1]: starts at 250 before the previous cue ends at 300 (overlapping speech)"
    )


def test_speech_must_end_after_it_starts() -> None:
    assert _error(_v1(speech=[{"t_ms": 300, "end_ms": 300, "viseme": "speaking_ah"}])) == (
        "tracks.speech[0]: end_ms 300 must be after t_ms 300"
    )


def test_unknown_expression_suggests_the_closest_name(rig: Rig) -> None:
    keyframes = [{"time_ms": t, "target_expr": "neutral"} for t in (0, 100, 200)]
    keyframes.append({"time_ms": 300, "target_expr": "hapy_soft"})
    with pytest.raises(TimelineError) as exc_info:
        check_against_rig(parse_timeline(keyframes), rig)
    assert str(exc_info.value) == "keyframe 3: unknown expression 'hapy_soft' (did you mean 'happy_soft'?)"


def test_unknown_names_fail_resolve_with_did_you_mean(rig: Rig) -> None:
    cases = [
        (
            _v1(emotion=[{"t_ms": 0, "expr": "neutral"}, {"t_ms": 10, "expr": "concernd"}]),
            "tracks.emotion[1]: unknown expression 'concernd' (did you mean 'concerned'?)",
        ),
        (
            _v1(pose=[{"t_ms": 10, "pose": "tilt_left"}]),
            "tracks.pose[0]: unknown pose 'tilt_left' (did you mean 'tilt_left_small'?)",
        ),
        (
            _v1(speech=[{"t_ms": 10, "end_ms": 20, "viseme": "speaking_oo"}]),
            "tracks.speech[0]: unknown expression 'speaking_oo' (did you mean ",
        ),
        (
            {"version": 1, "start": {"expr": "neutral", "pose": "centre"}},
            "start.pose: unknown pose 'centre' (did you mean 'center'?)",
        ),
        (
            [{"time_ms": 0, "target_pose": "nod_dwn_small"}],
            "keyframe 0: unknown pose 'nod_dwn_small' (did you mean 'nod_down_small'?)",
        ),
    ]
    for data, expected in cases:
        with pytest.raises(TimelineError) as exc_info:
            resolve(parse_timeline(data), rig)
        assert str(exc_info.value).startswith(expected)


def test_no_suggestion_when_nothing_is_close(rig: Rig) -> None:
    with pytest.raises(TimelineError) as exc_info:
        resolve(parse_timeline(_v1(emotion=[{"t_ms": 0, "expr": "zzzzzz"}])), rig)
    assert str(exc_info.value) == "tracks.emotion[0]: unknown expression 'zzzzzz'"


def test_duration_over_the_cap_is_rejected() -> None:
    assert _error({"version": 1, "duration_ms": MAX_DURATION_MS + 1}) == (
        f"duration_ms: must be in [1, {MAX_DURATION_MS}], got {MAX_DURATION_MS + 1}"
    )
    assert parse_timeline({"version": 1, "duration_ms": MAX_DURATION_MS}).duration_ms == MAX_DURATION_MS
    assert _error({"version": 1, "duration_ms": 0}).startswith("duration_ms: must be in [1, ")
    assert _error(_v1(emotion=[{"t_ms": MAX_DURATION_MS + 1, "expr": "neutral"}])).startswith(
        "tracks.emotion[0].t_ms: must be in"
    )


def test_duration_must_cover_speech() -> None:
    data = {**_v1(speech=[{"t_ms": 0, "end_ms": 900, "viseme": "speaking_ah"}]), "duration_ms": 800}
    assert _error(data) == "duration_ms: 800 ends before the last speech or word (900)"


def test_more_items_than_the_limit_are_rejected() -> None:
    words = [{"t_ms": 0, "end_ms": 0, "text": "a"}] * (MAX_ITEMS + 1)
    assert _error(_v1(words=words)) == f"timeline: {MAX_ITEMS + 1} items is over the limit of {MAX_ITEMS}"
    parse_timeline(_v1(words=words[:MAX_ITEMS]))


def test_unknown_track_is_rejected() -> None:
    known = "emotion, speech, pose, words, blink, frames"
    assert _error(_v1(gestures=[])) == f"tracks: unknown track 'gestures' (known: {known})"


@pytest.mark.parametrize("audio_id", ["..", "../secret.wav", "a/b.wav", "/etc/passwd", "a\\b", "", "x y"])
def test_unsafe_audio_ids_are_rejected(audio_id: str) -> None:
    message = _error({"version": 1, "audio": {"id": audio_id}})
    assert message.startswith("audio.id: ")
    assert repr(audio_id) in message


def test_round_trips_through_json() -> None:
    timeline = parse_timeline(FULL_V1)
    doc = timeline_to_json(timeline)
    assert parse_timeline(json.loads(json.dumps(doc))) == timeline
    assert doc["tracks"]["speech"][0] == FULL_V1["tracks"]["speech"][0]


def test_face_rig_input_round_trips_as_v1() -> None:
    keyframes = [{"time_ms": 0, "target_expr": "happy_soft"}, {"time_ms": 900, "target_pose": "nod_up_small"}]
    timeline = parse_timeline(keyframes)
    again = parse_timeline(timeline_to_json(timeline))
    assert again.source == "v1"
    assert (again.start, again.emotion, again.pose, again.idle_blink) == (
        timeline.start,
        timeline.emotion,
        timeline.pose,
        timeline.idle_blink,
    )


def test_default_timeline_round_trips() -> None:
    timeline = Timeline()
    assert parse_timeline(timeline_to_json(timeline)) == timeline


def test_timeline_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        parse_timeline({"version": 3})
    with pytest.raises(StreamerError):
        parse_timeline({"version": 3})
