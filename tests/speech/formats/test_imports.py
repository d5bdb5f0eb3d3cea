"""Imports: TextGrids (long and short), Rhubarb JSON and TSV, face_rig keyframes, to alignments and timelines (pure)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from streamer.core.errors import StreamerError, TimelineError
from streamer.core.rig import DEFAULT_VISEMES
from streamer.core.timeline import parse_timeline
from streamer.speech.errors import FormatError, RhubarbError, TextGridError
from streamer.speech.formats.imports import (
    alignment_from_textgrid,
    decode_text,
    detect_format,
    import_timeline,
    parse_rhubarb_json,
    parse_rhubarb_tsv,
    parse_textgrid,
    speech_track_from_cues,
)
from streamer.speech.formats.textgrid import arpabet_of
from streamer.speech.lipsync.rhubarb import MouthCue

FIXTURES = Path(__file__).parent / "fixtures"
EXPRESSIONS = ["neutral", "happy_soft", "happy_big", "speaking_ah", "speaking_ee", "speaking_uw", "oh_round"]
HELLO_PHONES = [
    (310, 380, "HH"),
    (380, 450, "AH0"),
    (450, 530, "L"),
    (530, 720, "OW1"),
    (720, 810, "W"),
    (810, 1020, "ER1"),
    (1020, 1120, "L"),
    (1120, 1260, "D"),
]


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


@pytest.mark.parametrize("name", ["mfa_hello.TextGrid", "praat_short_hello.TextGrid"])
def test_a_textgrid_in_either_format_gives_words_and_arpabet_phonemes(name: str) -> None:
    grid = parse_textgrid(fixture(name))
    assert (grid.xmin_ms, grid.xmax_ms) == (0, 1520)
    assert [(t.name, t.kind, len(t.intervals)) for t in grid.tiers] == [
        ("words", "IntervalTier", 4),
        ("phones", "IntervalTier", 10),
    ]
    alignment = alignment_from_textgrid(grid)
    assert alignment.provider == "textgrid" and alignment.duration_ms == 1520
    assert [(w.t_ms, w.end_ms, w.text) for w in alignment.words] == [(310, 720, "hello"), (720, 1260, "world")]
    assert [(p.t_ms, p.end_ms, p.arpabet) for p in alignment.phonemes] == HELLO_PHONES
    assert [p.word for p in alignment.phonemes] == ["hello"] * 4 + ["world"] * 4
    assert alignment.warnings == [] and alignment.unplaced == []


def test_mfa_ipa_phones_and_speaker_tiers_are_read() -> None:
    text = fixture("mfa_hello.TextGrid").replace('"words"', '"pip - words"').replace('"phones"', '"pip - phones"')
    for arpa, ipa in (("HH", "h"), ("AH0", "ə"), ("L", "l"), ("OW1", "ow"), ("ER1", "ɚ"), ("D", "dʲ")):
        text = text.replace(f'"{arpa}"', f'"{ipa}"')
    alignment = alignment_from_textgrid(parse_textgrid(text))
    assert [p.arpabet for p in alignment.phonemes] == ["HH", "AH0", "L", "OW1", "W", "ER1", "L", "D"]
    assert alignment.phonemes[1].symbol == "ə"


def test_arpabet_labels_are_normalised() -> None:
    assert [arpabet_of(x) for x in ("aa1", "AA", "M", "spn", "ʔ", "iː")] == ["AA1", "AA1", "M", None, None, "IY1"]


def test_praat_utf16_files_with_a_bom_decode() -> None:
    text = fixture("mfa_hello.TextGrid").replace("hello", "héllo")
    grid = parse_textgrid(decode_text(text.encode("utf-16")))
    assert alignment_from_textgrid(grid).words[0].text == "héllo"


def test_a_grid_without_phones_opens_the_mouth_per_word_with_a_warning() -> None:
    text = fixture("praat_short_hello.TextGrid")
    words_only = text[: text.index('"IntervalTier"\n"phones"')].replace("<exists>\n2", "<exists>\n1")
    alignment = alignment_from_textgrid(parse_textgrid(words_only))
    assert [p.arpabet for p in alignment.phonemes] == ["AH1", "AH1"]
    assert alignment.warnings and "phones" in alignment.warnings[0]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.replace("xmax = 0.72 ", "xmax = abc "), r"line 21: expected .*words.* interval 2 xmax"),
        (lambda t: t[: t.index("intervals [3]")], r"the file ends where"),
        (lambda t: t.replace('"TextGrid"', '"Sound"'), r"object class 'Sound'"),
        (lambda t: t.replace("xmin = 0.72 ", "xmin = 0.5 ", 1), r"line 24: .*interval 3 starts before interval 2"),
        (lambda t: t.replace("xmax = 0.31 ", "xmax = 9999 ", 1), r"line 17: .*out of range"),
        (lambda t: t.replace('text = "hello" ', 'text = "hello '), r"unterminated string"),
        (lambda t: t.replace('"ooTextFile"', '"ooBinaryFile"'), r"binary TextGrids are not supported"),
    ],
)
def test_textgrid_errors_name_the_line(edit: object, message: str) -> None:
    assert callable(edit)
    with pytest.raises(TextGridError, match=message) as caught:
        parse_textgrid(edit(fixture("mfa_hello.TextGrid")))
    assert isinstance(caught.value, StreamerError) and isinstance(caught.value, ValueError)


def test_a_grid_without_a_words_tier_names_its_tiers() -> None:
    text = fixture("mfa_hello.TextGrid").replace('"words"', '"ortho"')
    with pytest.raises(TextGridError, match="no IntervalTier named 'words' .*'ortho', 'phones'"):
        alignment_from_textgrid(parse_textgrid(text))


def test_rhubarb_json_as_rhubarb_writes_it() -> None:
    track = parse_rhubarb_json(fixture("rhubarb_hello.json"))
    assert track.duration_ms == 1520 and track.sound_file == "C:\\Users\\pip\\voice\\hello.wav"
    assert [c.shape for c in track.cues] == list("XBCHEFEBCX")
    assert track.cues[1] == MouthCue(310, 380, "B") and track.cues[-1] == MouthCue(1260, 1520, "X")


def test_rhubarb_tsv_cues_last_until_the_next_line() -> None:
    from_json = parse_rhubarb_json(fixture("rhubarb_hello.json")).cues
    assert parse_rhubarb_tsv(fixture("rhubarb_hello.tsv"), duration_ms=1520).cues == from_json
    # Without the audio's length, the final X only marks where the last shape ends.
    assert parse_rhubarb_tsv(fixture("rhubarb_hello.tsv")).cues == from_json[:-1]
    assert parse_rhubarb_tsv("0.00\tX\n0.10\tD\n").cues == [MouthCue(0, 100, "X"), MouthCue(100, 200, "D")]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"mouthCues": [{"start": 0, "end": 0.1, "value": "Q"}]}', r"mouthCues\[0\]\.value: .*'Q'"),
        ('{"mouthCues": [{"start": "0", "end": 0.1, "value": "A"}]}', r"mouthCues\[0\]\.start: must be a number"),
        ('{"mouthCues": [{"start": 0.5, "end": 0.6, "value": "A"}, {"start": 0.1, "end": 0.2, "value": "B"}]}',
         r"mouthCues\[1\]: starts before"),
        ('{"metadata": {"duration": -1}, "mouthCues": []}', r"metadata\.duration: .*out of range"),
        ('{"cues": []}', r"mouthCues: missing"),
        ("{nope", r"invalid JSON"),
    ],
)  # fmt: skip
def test_rhubarb_json_errors_name_the_field(text: str, message: str) -> None:
    with pytest.raises(RhubarbError, match=message):
        parse_rhubarb_json(text)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0.00\tX\nzero\tA\n", r"line 2: time 'zero'"),
        ("0.5\tA\n0.1\tB\n", r"line 2: .*sorted"),
        ("0.1 A B\n", "line 1"),
        ("0.1\tQ\n", "line 1: mouth shape"),
    ],
)
def test_rhubarb_tsv_errors_name_the_line(text: str, message: str) -> None:
    with pytest.raises(RhubarbError, match=message):
        parse_rhubarb_tsv(text)


def test_rhubarb_shapes_become_the_rigs_expressions_and_rest_is_a_gap() -> None:
    cues = parse_rhubarb_json(fixture("rhubarb_hello.json")).cues
    track = speech_track_from_cues(cues, DEFAULT_VISEMES, EXPRESSIONS)
    assert [(c["t_ms"], c["end_ms"], c["viseme"]) for c in track] == [
        (310, 450, "speaking_ee"),  # B and C
        (450, 720, "speaking_ah"),  # H and E
        (720, 810, "speaking_uw"),  # F
        (810, 1020, "speaking_ah"),  # E
        (1020, 1260, "speaking_ee"),  # B and C
    ]
    assert [c["phoneme"] for c in track] == ["IY", "L", "UW", "AO", "IY"]
    parse_timeline({"version": 1, "tracks": {"speech": track}})


def test_rhubarb_import_uses_the_rigs_map_and_only_its_expressions() -> None:
    cues = [MouthCue(0, 100, "A"), MouthCue(100, 200, "D"), MouthCue(200, 300, "F"), MouthCue(300, 400, "G")]
    rig_map = {"M": "lips_pressed", "AA": "jaw_open", "UW": "not_in_this_rig"}
    track = speech_track_from_cues(cues, rig_map, ["neutral", "lips_pressed", "jaw_open"])
    assert [c["viseme"] for c in track] == ["lips_pressed", "jaw_open", "neutral"]
    assert (track[-1]["t_ms"], track[-1]["end_ms"]) == (200, 400)


@pytest.mark.parametrize(
    ("name", "data", "expected"),
    [
        ("x.TextGrid", (FIXTURES / "mfa_hello.TextGrid").read_bytes(), "textgrid"),
        ("grid.txt", (FIXTURES / "praat_short_hello.TextGrid").read_bytes(), "textgrid"),
        ("cues.json", (FIXTURES / "rhubarb_hello.json").read_bytes(), "rhubarb_json"),
        ("cues.tsv", (FIXTURES / "rhubarb_hello.tsv").read_bytes(), "rhubarb_tsv"),
        ("cues.txt", (FIXTURES / "rhubarb_hello.tsv").read_bytes(), "rhubarb_tsv"),
        ("k.json", b'{"keyframes": []}', "keyframes"),
        ("k.json", b'[{"time_ms": 0, "target_expr": "neutral"}]', "keyframes"),
        ("t.json", b'{"version": 1}', "v1"),
    ],
)
def test_formats_are_detected_by_content(name: str, data: bytes, expected: str) -> None:
    assert detect_format(name, data) == expected


def test_an_unknown_file_is_a_clear_error() -> None:
    with pytest.raises(FormatError, match="unknown format"):
        detect_format("notes.txt", b"just some words")
    with pytest.raises(FormatError, match="neither Rhubarb"):
        detect_format("x.json", b'{"hello": 1}')


def test_a_textgrid_import_is_a_full_timeline_with_the_audio() -> None:
    data = (FIXTURES / "mfa_hello.TextGrid").read_bytes()
    imported = import_timeline("hello.TextGrid", data, EXPRESSIONS, DEFAULT_VISEMES, audio_id="hello.wav")
    doc = imported.timeline
    timeline = parse_timeline(doc)
    assert imported.format == "textgrid" and doc["audio"] == {"id": "hello.wav", "offset_ms": 0}
    assert [w.text for w in timeline.words] == ["hello", "world"]
    assert timeline.speech[0].t_ms == 310 - 50  # anticipation
    assert {c.viseme for c in timeline.speech} == {"neutral", "speaking_ah", "oh_round"}
    assert timeline.duration_ms == 1520 + 500


def test_a_word_mode_import_holds_one_shape_per_word() -> None:
    data = (FIXTURES / "mfa_hello.TextGrid").read_bytes()
    doc = import_timeline("h.TextGrid", data, EXPRESSIONS, DEFAULT_VISEMES, mode="word", anticipation_ms=0).timeline
    speech = [(c["t_ms"], c["end_ms"], c["viseme"]) for c in doc["tracks"]["speech"]]
    # "hello" (AH0) and "world" (ER1) share a shape: the mouth relaxes for a moment between them.
    assert speech == [(310, 660, "speaking_ah"), (660, 720, "neutral"), (720, 1260, "speaking_ah")]


def test_rhubarb_and_keyframe_imports_are_timelines() -> None:
    data = (FIXTURES / "rhubarb_hello.json").read_bytes()
    doc = import_timeline("cues.json", data, EXPRESSIONS, DEFAULT_VISEMES, audio_id="hello.ogg").timeline
    assert doc["audio"]["id"] == "hello.ogg" and len(doc["tracks"]["speech"]) == 5
    assert doc["duration_ms"] == 1520 + 500
    keyframes = (Path(__file__).parents[3] / "examples" / "face_rig_keyframes.json").read_bytes()
    imported = import_timeline("face_rig_keyframes.json", keyframes, EXPRESSIONS, DEFAULT_VISEMES)
    assert imported.format == "keyframes" and imported.timeline["version"] == 1
    assert imported.timeline["tracks"]["emotion"][1] == {"t_ms": 500, "expr": "happy_soft", "transition_ms": 400}


def test_a_bad_keyframe_list_is_a_timeline_error() -> None:
    with pytest.raises(TimelineError, match="keyframe 0.time_ms"):
        import_timeline("k.json", json.dumps([{"time_ms": "0", "target_expr": "x"}]).encode(), ["x"], {})
