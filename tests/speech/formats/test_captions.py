"""Exports: captions (SRT, WebVTT), Rhubarb JSON/TSV and TextGrids, and their round trips with the imports (pure)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from streamer.core.rig import DEFAULT_VISEMES
from streamer.core.timeline import SpeechCue, WordSpan, parse_timeline
from streamer.speech.errors import FormatError, NothingToExport
from streamer.speech.formats.captions import (
    Caption,
    captions,
    export_timeline,
    format_for_path,
    mouth_cues,
    punctuate,
    write_rhubarb_json,
    write_rhubarb_tsv,
    write_srt,
    write_vtt,
)
from streamer.speech.formats.imports import parse_rhubarb_json, parse_rhubarb_tsv
from streamer.speech.formats.textgrid import Interval, parse_textgrid, write_textgrid
from streamer.speech.lipsync.rhubarb import MouthCue

FIXTURES = Path(__file__).parent / "fixtures"


def words(*items: tuple[int, int, str]) -> list[WordSpan]:
    return [WordSpan(*item) for item in items]


def evenly(text: str, start_ms: int = 0, word_ms: int = 300) -> list[WordSpan]:
    return [WordSpan(start_ms + i * word_ms, start_ms + (i + 1) * word_ms - 20, w) for i, w in enumerate(text.split())]


# -- round trips with the importers --------------------------------------------------------


def test_a_written_textgrid_reads_back_the_same_intervals() -> None:
    tiers = {
        "words": [Interval(310, 720, "hello"), Interval(720, 1260, 'say "hi"')],
        "phones": [Interval(310, 380, "HH"), Interval(380, 450, "AH0"), Interval(1001, 1260, "ER1")],
    }
    grid = parse_textgrid(write_textgrid(tiers, 1520))
    assert (grid.xmin_ms, grid.xmax_ms) == (0, 1520)
    for tier in grid.tiers:
        spoken = [i for i in tier.intervals if i.text]
        assert spoken == tiers[tier.name]
        assert tier.intervals[0].t_ms == 0 and tier.intervals[-1].end_ms == 1520
        assert all(a.end_ms == b.t_ms for a, b in zip(tier.intervals, tier.intervals[1:], strict=False))


def test_the_mfa_fixture_reads_back_after_writing() -> None:
    grid = parse_textgrid((FIXTURES / "mfa_hello.TextGrid").read_text())
    again = parse_textgrid(write_textgrid({t.name: list(t.intervals) for t in grid.tiers}, grid.xmax_ms))
    assert again == grid


def test_rhubarb_json_and_tsv_read_back_the_same_cues() -> None:
    cues = [MouthCue(0, 310, "X"), MouthCue(310, 385, "B"), MouthCue(385, 1001, "D"), MouthCue(1001, 1520, "X")]
    written = write_rhubarb_json(cues, 1520, "hello.ogg")
    track = parse_rhubarb_json(written)
    assert (track.cues, track.duration_ms, track.sound_file) == (cues, 1520, "hello.ogg")
    assert parse_rhubarb_tsv(write_rhubarb_tsv(cues), duration_ms=1520).cues == cues


def test_the_rhubarb_fixture_reads_back_after_writing() -> None:
    original = parse_rhubarb_json((FIXTURES / "rhubarb_hello.json").read_text())
    assert original.duration_ms is not None
    written = write_rhubarb_json(original.cues, original.duration_ms, original.sound_file or "")
    assert parse_rhubarb_json(written) == original
    assert '{ "start": 0.31, "end": 0.38, "value": "B" }' in written  # Rhubarb's own layout
    assert write_rhubarb_tsv(original.cues) == (FIXTURES / "rhubarb_hello.tsv").read_text()


# -- our cues as Rhubarb shapes ------------------------------------------------------------


def test_speech_cues_become_rhubarb_shapes_by_their_sound_with_gaps_as_rest() -> None:
    speech = [
        SpeechCue(100, 200, "neutral", "M"),
        SpeechCue(200, 300, "speaking_ah", "AA1"),
        SpeechCue(300, 400, "neutral", "F"),
        SpeechCue(600, 700, "speaking_ee", None),
        SpeechCue(700, 800, "speaking_uw", "UW1"),
        SpeechCue(800, 850, "speaking_uw", "OW1"),
        SpeechCue(850, 900, "neutral", "S"),
    ]
    assert mouth_cues(speech, DEFAULT_VISEMES, 1000) == [
        MouthCue(0, 100, "X"),
        MouthCue(100, 200, "A"),
        MouthCue(200, 300, "D"),
        MouthCue(300, 400, "G"),
        MouthCue(400, 600, "X"),
        MouthCue(600, 700, "B"),  # no phoneme: the first vowel the map gives speaking_ee (IY)
        MouthCue(700, 850, "F"),  # UW and OW both pucker: merged
        MouthCue(850, 900, "B"),
        MouthCue(900, 1000, "X"),
    ]


# -- captions ------------------------------------------------------------------------------


def test_captions_break_at_sentence_ends_and_take_punctuation_from_the_text() -> None:
    spoken = words((0, 476, "Hello"), (850, 1069, "I"), (1069, 1281, "so"), (1281, 1629, "happy"), (1629, 2199, "you"))
    items = captions(spoken, "Hello! I am so happy, you.")
    assert [c.lines for c in items] == [("Hello!",), ("I am so happy, you.",)]
    assert (items[0].t_ms, items[0].end_ms) == (0, 850)  # held 1 s, or up to the next caption
    assert (items[1].t_ms, items[1].end_ms) == (850, 2199)


def test_captions_break_at_pauses_without_punctuation() -> None:
    spoken = words((0, 300, "one"), (300, 600, "two"), (1200, 1500, "three"))
    assert [c.lines for c in captions(spoken, pause_ms=500)] == [("one two",), ("three",)]


def test_captions_fill_two_balanced_lines_of_at_most_42_characters() -> None:
    text = "the quick brown fox jumps over the lazy dog and keeps on running far away into the hills"
    items = captions(evenly(text, word_ms=250))
    assert all(len(c.lines) <= 2 and all(len(line) <= 42 for line in c.lines) for c in items)
    assert " ".join(" ".join(c.lines) for c in items) == text
    assert items[0].lines == ("the quick brown fox jumps over the lazy", "dog and keeps on running far away into the")
    assert all(a.end_ms <= b.t_ms for a, b in zip(items, items[1:], strict=False))


def test_captions_keep_to_max_lines_and_max_chars() -> None:
    text = "the quick brown fox jumps over the lazy dog and keeps on running far away into the hills"
    items = captions(evenly(text, word_ms=250), max_chars=12, max_lines=3)
    assert all(len(c.lines) <= 3 and all(len(line) <= 12 for line in c.lines) for c in items)
    assert " ".join(" ".join(c.lines) for c in items) == text
    assert items[0].lines == ("the quick", "brown fox", "jumps over")  # three lines, not two long ones


def test_a_caption_lasts_at_most_six_seconds() -> None:
    items = captions(evenly("a b c d e f g h i j k l m n o p", word_ms=1000))
    assert all(c.end_ms - c.t_ms <= 6000 for c in items) and len(items) == 3


def test_words_the_speech_engine_merged_or_read_out_show_as_written() -> None:
    spoken = evenly("I have forty two cats")
    assert punctuate(spoken, '"I have 42 cats," she said.') == ['"I', "have", "", "", '42 cats,"']
    assert [c.lines for c in captions(spoken, "I have 42 cats.")] == [("I have 42 cats.",)]
    assert punctuate(spoken, None) == ["I", "have", "forty", "two", "cats"]


# Complexity guards, not speed figures: the bound is many times the normal cost, so that only
# the catastrophic cases trip it (a diff that degrades to cubic time takes minutes here).
GUARD_S = 30.0


def test_punctuating_a_long_transcript_finishes_and_keeps_every_word() -> None:
    # Each sentence has words the transcript writes differently ("forty two" is "42"), which
    # used to cost a search to the end of the text each.
    sentence = "Day {n}: well, I think the fox didn't jump over 42 lazy dogs! Did it? No, it ran far away."
    days = range(100, 900)
    text = " ".join(sentence.format(n=n) for n in days)  # about 17,000 words
    said = "Day {n} well I think the fox didn't jump over forty two lazy dogs Did it No it ran far away"
    spoken = evenly(" ".join(said.format(n=n) for n in days))
    started = time.perf_counter()
    shown = punctuate(spoken, text)
    assert time.perf_counter() - started < GUARD_S
    assert " ".join(w for w in shown if w) == text
    one = ["Day", "{n}:", "well,", "I", "think", "the", "fox", "didn't", "jump", "over", "", "", "42 lazy", "dogs!"]
    one += ["Did", "it?", "No,", "it", "ran", "far", "away."]
    assert shown == [w.format(n=n) for n in days for w in one]


def test_punctuating_a_repetitive_text_finishes() -> None:
    # Every token repeats: a diff that seeds matches from any token would take minutes here.
    spoken = evenly(" ".join(["la", "di"] * 5000))
    started = time.perf_counter()
    text = " ".join(["la", "la", "di", "di"] * 2500) + "!"
    shown = punctuate(spoken, text)
    assert time.perf_counter() - started < GUARD_S
    assert " ".join(w for w in shown if w) == text  # the captions still read as the transcript


def test_srt_and_vtt_layouts_and_timestamps() -> None:
    items = [Caption(1234, 3_723_456, ("a <b> & c",)), Caption(3_800_000, 3_801_000, ("two", "lines --> x"))]
    assert write_srt(items) == (
        "1\n00:00:01,234 --> 01:02:03,456\na <b> & c\n\n2\n01:03:20,000 --> 01:03:21,000\ntwo\nlines -> x\n"
    )
    assert write_vtt(items) == (
        "WEBVTT\n\n00:00:01.234 --> 01:02:03.456\na &lt;b&gt; &amp; c\n\n"
        "01:03:20.000 --> 01:03:21.000\ntwo\nlines --&gt; x\n"
    )


# -- whole timelines -----------------------------------------------------------------------


def timeline_doc(**tracks: object) -> dict[str, object]:
    return {"version": 1, "audio": {"id": "hi.ogg"}, "tracks": tracks, "duration_ms": 2000}


def test_export_timeline_in_every_format() -> None:
    doc = timeline_doc(
        speech=[{"t_ms": 100, "end_ms": 300, "viseme": "speaking_ah", "phoneme": "AA1"}],
        words=[{"t_ms": 100, "end_ms": 300, "text": "ah"}],
    )
    doc["meta"] = {"text": "Ah!"}
    timeline = parse_timeline(doc)
    srt = export_timeline(timeline, "srt", DEFAULT_VISEMES)
    assert srt.text == "1\n00:00:00,100 --> 00:00:01,100\nAh!\n" and srt.media_type.startswith("application/x-subrip")
    assert export_timeline(timeline, "vtt", DEFAULT_VISEMES).text.startswith("WEBVTT\n\n00:00:00.100 --> ")
    rhubarb = json.loads(export_timeline(timeline, "rhubarb_json", DEFAULT_VISEMES).text)
    assert rhubarb["metadata"] == {"soundFile": "hi.ogg", "duration": 2.0}
    assert [c["value"] for c in rhubarb["mouthCues"]] == ["X", "D", "X"]
    assert export_timeline(timeline, "rhubarb_tsv", DEFAULT_VISEMES).text == "0.00\tX\n0.10\tD\n0.30\tX\n"
    grid = parse_textgrid(export_timeline(timeline, "textgrid", DEFAULT_VISEMES).text)
    assert [[i.text for i in t.intervals if i.text] for t in grid.tiers] == [["ah"], ["AA1"]]


def test_a_timeline_without_words_or_speech_names_the_missing_track() -> None:
    timeline = parse_timeline(timeline_doc(emotion=[{"t_ms": 0, "expr": "happy_soft"}]))
    with pytest.raises(NothingToExport, match="tracks.words: the timeline has no words"):
        export_timeline(timeline, "srt", DEFAULT_VISEMES)
    with pytest.raises(NothingToExport, match="tracks.speech"):
        export_timeline(timeline, "rhubarb_json", DEFAULT_VISEMES)


def test_formats_come_from_the_extension_or_the_option() -> None:
    assert [format_for_path(p) for p in ("a.srt", "b.VTT", "c.json", "d.tsv", "e.textgrid")] == [
        "srt",
        "vtt",
        "rhubarb_json",
        "rhubarb_tsv",
        "textgrid",
    ]
    assert format_for_path("-", "vtt") == "vtt"
    with pytest.raises(FormatError, match="unknown caption"):
        format_for_path("out.txt")
