"""Phonemes to the v1 speech track, and whole timelines for speech (pure, plus one real synthesis)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamer.core.errors import StreamerError, TimelineError
from streamer.core.resolve import resolve
from streamer.core.rig import DEFAULT_VISEMES
from streamer.core.timeline import WordSpan, check_against_rig, parse_timeline
from streamer.speech import Phoneme, Speech, Word, speech_track, synthesize, timeline_for
from streamer.speech.lipsync.visemes import ANTICIPATION_MS, ONSET_MS
from tests.rigs import make_rig


def ph(t: int, end: int, arpabet: str | None, word: str | None = "w", symbol: str = "x") -> Phoneme:
    return Phoneme(t, end, "_" if arpabet is None else symbol, arpabet, None if arpabet is None else word)


# "hello", a pause, "me".
HELLO_ME = [
    ph(0, 80, "HH", "hello"),
    ph(80, 200, "AH0", "hello"),
    ph(200, 300, "L", "hello"),
    ph(300, 500, "OW1", "hello"),
    ph(500, 800, None),
    ph(800, 900, "M", "me"),
    ph(900, 1100, "IY1", "me"),
]


def shapes(track: list[dict[str, Any]]) -> list[tuple[int, int, str]]:
    return [(c["t_ms"], c["end_ms"], c["viseme"]) for c in track]


def sync(phonemes: list[Phoneme], visemes_map: Any = DEFAULT_VISEMES, **kwargs: Any) -> list[dict[str, Any]]:
    """The speech track without anticipation or open onsets, to check the other passes on exact times."""
    kwargs.setdefault("anticipation_ms", 0)
    kwargs.setdefault("onset_ms", 0)
    return speech_track(phonemes, visemes_map, **kwargs)


def assert_valid_track(track: list[dict[str, Any]]) -> None:
    for cue, after in zip(track, track[1:], strict=False):
        assert cue["end_ms"] <= after["t_ms"]
    for cue in track:
        assert isinstance(cue["t_ms"], int) and isinstance(cue["end_ms"], int)
        assert cue["end_ms"] > cue["t_ms"] >= 0
    parse_timeline({"version": 1, "tracks": {"speech": track}})


def test_vowels_take_the_rig_shape_consonants_relax_and_pauses_leave_a_gap() -> None:
    track = sync(HELLO_ME, DEFAULT_VISEMES)
    assert shapes(track) == [
        (0, 80, "neutral"),
        (80, 200, "speaking_ah"),
        (200, 300, "neutral"),
        (300, 500, "oh_round"),
        (800, 900, "neutral"),
        (900, 1100, "speaking_ee"),
    ]
    assert [c["phoneme"] for c in track] == ["HH", "AH0", "L", "OW1", "M", "IY1"]
    assert [c["word"] for c in track] == ["hello"] * 4 + ["me"] * 2


def test_equal_neighbours_merge_and_keep_the_first_sound() -> None:
    phonemes = [ph(0, 100, "IY1"), ph(100, 200, "EH0"), ph(200, 300, "P"), ph(300, 400, "B")]
    track = sync(phonemes, DEFAULT_VISEMES)
    assert shapes(track) == [(0, 200, "speaking_ee"), (200, 400, "neutral")]
    assert track[0]["phoneme"] == "IY1"


def test_a_short_consonant_between_vowels_is_absorbed_by_the_shorter_vowel() -> None:
    track = sync([ph(0, 200, "AA1"), ph(200, 230, "T"), ph(230, 330, "IY0")], DEFAULT_VISEMES)
    assert shapes(track) == [(0, 200, "speaking_ah"), (200, 330, "speaking_ee")]
    assert track[1]["phoneme"] == "IY0"


def test_a_short_vowel_borrows_time_from_the_longer_consonant_next_to_it() -> None:
    track = sync([ph(0, 100, "S"), ph(100, 140, "AH0"), ph(140, 170, "T"), ph(170, 300, "M")], DEFAULT_VISEMES)
    assert shapes(track) == [(0, 100, "neutral"), (100, 160, "speaking_ah"), (160, 300, "neutral")]


def test_a_short_vowel_wins_over_a_short_consonant_it_cannot_borrow_from() -> None:
    track = sync([ph(0, 70, "S"), ph(70, 110, "AH0"), ph(110, 150, "T"), ph(150, 300, None)], DEFAULT_VISEMES)
    assert shapes(track) == [(0, 70, "neutral"), (70, 150, "speaking_ah")]


def test_no_shape_is_shorter_than_min_hold_when_it_has_neighbours() -> None:
    phonemes = [ph(i * 25, (i + 1) * 25, a) for i, a in enumerate(["P", "AA1", "T", "IY0", "K", "UW1", "S", "OW1"])]
    track = sync(phonemes, DEFAULT_VISEMES, min_hold_ms=60)
    assert all(c["end_ms"] - c["t_ms"] >= 60 for c in track)
    assert (track[0]["t_ms"], track[-1]["end_ms"]) == (0, 200)


def test_an_isolated_short_sound_is_stretched_into_the_silence_after_it() -> None:
    track = sync([ph(100, 130, "AH0"), ph(130, 400, None), ph(400, 500, "IY1")], DEFAULT_VISEMES)
    assert shapes(track) == [(100, 160, "speaking_ah"), (400, 500, "speaking_ee")]


def test_a_silence_shorter_than_min_hold_is_bridged() -> None:
    track = sync([ph(0, 100, "AA1"), ph(100, 130, None), ph(130, 300, "M")], DEFAULT_VISEMES)
    assert shapes(track) == [(0, 130, "speaking_ah"), (130, 300, "neutral")]


def test_uses_the_rigs_own_map_and_unknown_sounds_relax() -> None:
    phonemes = [ph(0, 100, "M"), ph(100, 200, "AA1"), Phoneme(200, 300, "Q!", None, "w")]
    track = sync(phonemes, {"M": "lips_pressed", "AA": "jaw_open"})
    assert shapes(track) == [(0, 100, "lips_pressed"), (100, 200, "jaw_open"), (200, 300, "neutral")]
    assert track[2]["phoneme"] == "Q!"


def test_zero_min_hold_keeps_every_sound() -> None:
    track = sync([ph(0, 10, "P"), ph(10, 15, "AA1"), ph(15, 20, "T")], DEFAULT_VISEMES, min_hold_ms=0)
    assert shapes(track) == [(0, 10, "neutral"), (10, 15, "speaking_ah"), (15, 20, "neutral")]


def test_anticipation_brings_every_onset_forward_and_keeps_the_ends_at_pauses() -> None:
    phonemes = [ph(100, 200, "HH"), ph(200, 400, "AA1"), ph(400, 700, None), ph(700, 800, "M"), ph(800, 1000, "IY1")]
    track = speech_track(phonemes, DEFAULT_VISEMES, anticipation_ms=50, onset_ms=0)
    assert shapes(track) == [
        (50, 150, "neutral"),
        (150, 400, "speaking_ah"),
        (650, 750, "neutral"),
        (750, 1000, "speaking_ee"),
    ]


def test_where_speech_starts_the_first_vowel_shape_covers_the_lip_free_consonants_before_it() -> None:
    # "Right, | so": R at the start and S after the pause leave the lips free; the vowels' shapes
    # start with them (then anticipation moves the second into the pause, as any onset).
    phonemes = [ph(0, 116, "R"), ph(116, 300, "AY1"), ph(300, 480, None), ph(480, 560, "S"), ph(560, 800, "OW1")]
    track = speech_track(phonemes, DEFAULT_VISEMES)
    assert ONSET_MS == 150
    assert shapes(track) == [(0, 300, "speaking_ee"), (430, 800, "oh_round")]
    assert [c["phoneme"] for c in track] == ["AY1", "OW1"]
    # Off, the consonants relax as elsewhere.
    off = shapes(speech_track(phonemes, DEFAULT_VISEMES, onset_ms=0))
    assert off == [(0, 66, "neutral"), (66, 300, "speaking_ee"), (430, 510, "neutral"), (510, 800, "oh_round")]


def test_an_onset_keeps_its_closed_lips_its_long_clusters_and_its_inner_consonants() -> None:
    # A bilabial or labiodental start shows: "mama", "five" (a short one is still absorbed by the passes after).
    assert sync([ph(0, 100, "M"), ph(100, 300, "AA1")], onset_ms=150)[0]["viseme"] == "neutral"
    assert sync([ph(0, 100, "F"), ph(100, 300, "AY1")], onset_ms=150)[0]["viseme"] == "neutral"
    # "str": the vowel comes 200 ms after the start, past onset_ms: the cluster relaxes.
    strong = [ph(0, 70, "S"), ph(70, 130, "T"), ph(130, 200, "R"), ph(200, 400, "AO1")]
    assert shapes(sync(strong, onset_ms=150)) == [(0, 200, "neutral"), (200, 400, "speaking_ah")]
    assert shapes(sync(strong, onset_ms=200)) == [(0, 400, "speaking_ah")]
    # Only where speech starts: the "t" between vowels keeps its relaxed mouth.
    inner = [ph(0, 150, "AA1"), ph(150, 250, "T"), ph(250, 400, "IY1")]
    assert shapes(sync(inner, onset_ms=150)) == [
        (0, 150, "speaking_ah"),
        (150, 250, "neutral"),
        (250, 400, "speaking_ee"),
    ]
    # Word mode: each word's shape covers it whole already.
    assert shapes(sync(strong, mode="word", onset_ms=150)) == shapes(sync(strong, mode="word"))


def test_a_real_voice_opens_the_mouth_as_its_first_word_starts() -> None:
    for text in ("Well, that is it.", "Right, the answer.", "So, the answer."):
        speech = synthesize(text)
        track = speech_track(speech.phonemes, DEFAULT_VISEMES)
        assert track[0]["t_ms"] == 0 and track[0]["viseme"] != "neutral", text


def test_anticipation_is_on_by_default_and_never_goes_before_zero() -> None:
    track = speech_track([ph(20, 200, "AA1"), ph(200, 300, "M")], DEFAULT_VISEMES)
    assert ANTICIPATION_MS == 50
    assert shapes(track) == [(0, 150, "speaking_ah"), (150, 300, "neutral")]


def test_anticipation_never_overlaps_the_previous_shape_across_a_short_pause() -> None:
    # 30 ms of silence: the onset stops at the previous shape's end instead of reaching into it.
    track = speech_track([ph(0, 200, "AA1"), ph(200, 230, None), ph(230, 400, "UW1")], DEFAULT_VISEMES)
    assert shapes(track) == [(0, 200, "speaking_ah"), (200, 400, "speaking_uw")]


def test_a_long_pause_relaxes_the_mouth_and_a_short_one_is_bridged() -> None:
    phonemes = [ph(0, 200, "AA1"), ph(200, 240, None), ph(240, 400, "IY1"), ph(400, 700, None), ph(700, 900, "UW1")]
    track = sync(phonemes, min_hold_ms=60)
    assert shapes(track) == [(0, 240, "speaking_ah"), (240, 400, "speaking_ee"), (700, 900, "speaking_uw")]


def test_a_pause_that_anticipation_shrinks_below_min_hold_is_bridged_not_flashed() -> None:
    track = speech_track([ph(0, 200, "AA1"), ph(200, 290, None), ph(290, 400, "IY1")], DEFAULT_VISEMES)
    assert shapes(track) == [(0, 240, "speaking_ah"), (240, 400, "speaking_ee")]


def test_word_mode_holds_the_first_vowel_of_each_word_then_relaxes() -> None:
    phonemes = [*HELLO_ME, ph(1100, 1200, "T", "too"), ph(1200, 1400, "UW1", "too")]
    track = sync(phonemes, mode="word")
    assert shapes(track) == [(0, 500, "speaking_ah"), (800, 1100, "speaking_ee"), (1100, 1400, "speaking_uw")]
    assert [(c["phoneme"], c["word"]) for c in track] == [("AH0", "hello"), ("IY1", "me"), ("UW1", "too")]


def test_word_mode_takes_word_spans_and_separates_equal_touching_words() -> None:
    phonemes = [ph(0, 100, "S", "x"), ph(100, 300, "IY1", "x"), ph(300, 400, "M", "x"), ph(400, 600, "IY1", "x")]
    words = [WordSpan(0, 300, "see"), WordSpan(300, 600, "me")]
    track = sync(phonemes, mode="word", words=words)
    assert shapes(track) == [(0, 240, "speaking_ee"), (240, 300, "neutral"), (300, 600, "speaking_ee")]
    assert [c["word"] for c in track] == ["see", "see", "me"]


def test_word_mode_holds_neutral_for_a_word_without_a_vowel() -> None:
    track = sync([ph(0, 300, "HH", "hmm"), ph(300, 500, "M", "hmm")], mode="word")
    assert shapes(track) == [(0, 500, "neutral")] and track[0]["phoneme"] == "HH"


def test_a_rig_override_is_used_in_both_modes_and_may_name_a_stressed_vowel() -> None:
    rig_map = {"AA": "jaw_open", "AA1": "jaw_wide", "IY": "grin"}
    phonemes = [ph(0, 200, "AA1", "a"), ph(200, 400, "AA0", "b"), ph(400, 600, "IY1", "c")]
    assert [c["viseme"] for c in sync(phonemes, rig_map)] == ["jaw_wide", "jaw_open", "grin"]
    assert [c["viseme"] for c in sync(phonemes, rig_map, mode="word")] == ["jaw_wide", "jaw_open", "grin"]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"mode": "syllable"}, "mode"),
        ({"anticipation_ms": -1}, "anticipation_ms"),
        ({"min_hold_ms": -5}, "min_hold"),
        ({"onset_ms": -1}, "onset_ms"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(TimelineError, match=f"^{field}") as caught:  # a StreamerError: the CLI shows one line
        speech_track([ph(0, 100, "AA1")], DEFAULT_VISEMES, **kwargs)
    assert isinstance(caught.value, StreamerError) and isinstance(caught.value, ValueError)


ARPABET = sorted(DEFAULT_VISEMES) + ["P", "M", "S", "T", "L", "R", "NG"]


@given(
    st.lists(
        st.tuples(st.integers(0, 120), st.integers(1, 150), st.sampled_from([*ARPABET, None]), st.sampled_from("012")),
        max_size=60,
    ),
    st.integers(0, 120),
    st.integers(0, 100),
    st.sampled_from(["phoneme", "word"]),
)
def test_any_phoneme_sequence_gives_a_valid_track_within_the_speech(
    items: list[tuple[int, int, str | None, str]], min_hold_ms: int, anticipation_ms: int, mode: str
) -> None:
    phonemes, t = [], 0
    for gap, length, sound, stress in items:
        t += gap
        arpabet = None if sound is None else sound + stress if sound in DEFAULT_VISEMES else sound
        phonemes.append(ph(t, t + length, arpabet, word=f"w{len(phonemes) // 3}"))
        t += length
    track = speech_track(phonemes, DEFAULT_VISEMES, min_hold_ms, anticipation_ms=anticipation_ms, mode=mode)
    assert_valid_track(track)
    sounding = [p for p in phonemes if p.arpabet is not None]
    if not sounding:
        assert track == []
        return
    assert track[0]["t_ms"] == max(0, sounding[0].t_ms - anticipation_ms)
    assert sounding[-1].end_ms <= track[-1]["end_ms"] <= sounding[-1].end_ms + min_hold_ms
    for k, cue in enumerate(track):  # a shape shorter than min_hold has nothing touching it
        if cue["end_ms"] - cue["t_ms"] < min_hold_ms:
            assert k == 0 or track[k - 1]["end_ms"] < cue["t_ms"]
            assert k + 1 == len(track) or cue["end_ms"] < track[k + 1]["t_ms"]


@pytest.fixture(scope="module")
def speech() -> Speech:
    return synthesize("Hi, I'm Pip. Let's talk!")


def test_timeline_for_speech_parses_and_plays_the_audio(speech: Speech) -> None:
    doc = timeline_for(speech, "pip.ogg", DEFAULT_VISEMES)
    timeline = parse_timeline(doc)
    assert doc["audio"] == {"id": "pip.ogg", "offset_ms": 0}
    assert timeline.duration_ms == speech.duration_ms + 500
    assert [w.text for w in timeline.words] == ["Hi", "I'm", "Pip", "Let's", "talk"]
    assert timeline.speech and {c.viseme for c in timeline.speech} <= {"neutral", *DEFAULT_VISEMES.values()}
    assert {c.word for c in timeline.speech} <= {"Hi", "I'm", "Pip", "Let's", "talk"}
    assert [(k.expr, k.t_ms > speech.words[-1].end_ms) for k in timeline.emotion] == [
        ("happy_soft", False),
        ("neutral", True),
    ]
    assert (timeline.idle_blink, timeline.seed) == (True, 7)
    assert timeline.meta == {"text": "Hi, I'm Pip. Let's talk!"}
    assert timeline.speech[-1].end_ms <= speech.duration_ms + 60


def test_timeline_for_speech_resolves_on_the_face_rig_rig(speech: Speech) -> None:
    rig = make_rig()
    timeline = parse_timeline(timeline_for(speech, "pip.ogg", rig.config.visemes))
    check_against_rig(timeline, rig)
    schedule = resolve(timeline, rig)
    # the return to neutral after the last word runs to its end, even past the tail
    assert schedule.duration_ms >= timeline.duration_ms
    assert schedule.changes[-1][1] == "endpoints/neutral__center.png"
    keys = {key for _, key in schedule.changes}
    assert any("speaking_" in key for key in keys)


def test_timeline_for_takes_emotion_and_pose_tracks(speech: Speech) -> None:
    emotion = [{"t_ms": 0, "expr": "concerned", "transition_ms": 300}]
    pose = [{"t_ms": 100, "pose": "tilt_left_small", "transition_ms": 300}]
    timeline = parse_timeline(timeline_for(speech, "pip.wav", DEFAULT_VISEMES, emotion, pose=pose))
    assert [k.expr for k in timeline.emotion] == ["concerned"]
    assert [k.pose for k in timeline.pose] == ["tilt_left_small"]


@pytest.mark.parametrize("audio_id", ["../pip.ogg", "a/b.ogg", ""])
def test_timeline_for_rejects_a_bad_audio_id(speech: Speech, audio_id: str) -> None:
    with pytest.raises(TimelineError, match="audio.id"):
        timeline_for(speech, audio_id, DEFAULT_VISEMES)


def test_timeline_for_silent_speech_still_parses() -> None:
    silent = Speech(np.zeros(2205, dtype=np.int16), 22050, [Word(0, 0, "hm")], [ph(0, 100, None)])
    doc = timeline_for(silent, "hm.wav", DEFAULT_VISEMES)
    assert doc["tracks"]["speech"] == [] and parse_timeline(doc).duration_ms == 600


def test_timeline_for_word_mode_and_the_rigs_map(speech: Speech) -> None:
    rig_map = {vowel: "happy_big" for vowel in DEFAULT_VISEMES}
    doc = timeline_for(speech, "pip.ogg", rig_map, mode="word", anticipation_ms=0)
    cues = doc["tracks"]["speech"]
    assert {c["viseme"] for c in cues} <= {"happy_big", "neutral"}
    assert len([c for c in cues if c["viseme"] != "neutral"]) == 5  # one shape per word
    assert cues[0]["t_ms"] == speech.words[0].t_ms
