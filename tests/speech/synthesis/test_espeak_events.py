"""Decoding espeak events and mnemonics (pure, synthetic events)."""

from __future__ import annotations

import pytest

from streamer.speech.model import Phoneme, Word
from streamer.speech.synthesis.espeak_events import (
    EVENT_END,
    EVENT_PHONEME,
    EVENT_WORD,
    RawEvent,
    build_alignment,
    decode_mnemonic,
    to_arpabet,
)

RATE = 1000  # one sample per millisecond keeps the arithmetic obvious


def word(pos: int, length: int, t: int) -> RawEvent:
    return RawEvent(EVENT_WORD, pos, length, t)


def ph(name: str, t: int) -> RawEvent:
    return RawEvent(EVENT_PHONEME, 0, 0, t, name)


@pytest.mark.parametrize(
    ("symbol", "arpabet"),
    [
        ("'aI", "AY1"),
        (",oU", "OW2"),
        ("@", "AH0"),
        ("a", "AE0"),
        ("aa", "AA0"),
        ("A:", "AA0"),
        ("E", "EH0"),
        ("i:", "IY0"),
        ("'I", "IH1"),
        ("u:", "UW0"),
        ("U", "UH0"),
        ("O:", "AO0"),
        ("eI", "EY0"),
        ("aU", "AW0"),
        ("OI", "OY0"),
        ("3:", "ER0"),
        ("'0", "AA1"),
        ("V", "AH0"),
        ("p", "P"),
        ("T", "TH"),
        ("D", "DH"),
        ("S", "SH"),
        ("Z", "ZH"),
        ("tS", "CH"),
        ("dZ", "JH"),
        ("N", "NG"),
        ("j", "Y"),
        ("h", "HH"),
        ("t2", "T"),
        ("I2", "IH0"),
        ("l/2", "L"),
        ("_", None),
        ("_:", None),
        ("||", None),
        ("", None),
        ("Q!", None),
    ],
)
def test_maps_espeak_mnemonics_to_arpabet_with_stress(symbol: str, arpabet: str | None) -> None:
    assert to_arpabet(symbol) == arpabet


def test_decodes_the_packed_mnemonic() -> None:
    assert decode_mnemonic(b"'aI\0\0\0\0\0") == "'aI"
    assert decode_mnemonic(b"tS\0garbage") == "tS"
    assert decode_mnemonic("ʃ".encode() + b"\0" * 6) == "ʃ"


def test_phonemes_end_where_the_next_one_starts_and_a_pause_before_a_word_is_dropped() -> None:
    text = "Hi! Yo"
    events = [
        word(1, 2, 0),
        ph("h", 10),
        ph("'aI", 60),
        ph("_:", 300),
        ph("_", 500),
        RawEvent(EVENT_END, 3, 0, 500),
        word(5, 2, 500),
        ph("j", 500),
        ph("'oU", 560),
        ph("_:", 800),
        RawEvent(EVENT_END, 6, 0, 810),
    ]
    words, phonemes = build_alignment(text, events, 820, RATE)
    assert words == [Word(0, 300, "Hi"), Word(500, 800, "Yo")]
    assert phonemes == [
        Phoneme(10, 60, "h", "HH", "Hi"),
        Phoneme(60, 300, "'aI", "AY1", "Hi"),
        Phoneme(300, 500, "_:"),
        Phoneme(500, 560, "j", "Y", "Yo"),
        Phoneme(560, 800, "'oU", "OW1", "Yo"),
        Phoneme(800, 810, "_:"),
    ]


def test_a_word_ends_no_later_than_the_next_word_starts() -> None:
    # espeak reports "and" before the last phoneme of "smile" has finished.
    events = [word(1, 5, 0), ph("'aI", 0), ph("l", 200), word(7, 3, 200), ph("a", 230), ph("n", 300)]
    words, _ = build_alignment("smile and", events, 400, RATE)
    assert words == [Word(0, 200, "smile"), Word(200, 400, "and")]


def test_events_inside_one_text_word_merge_into_it() -> None:
    events = [word(1, 1, 0), ph("aI", 0), word(3, 3, 100), ph("w", 100), word(4, 3, 300), ph("t", 300)]
    words, phonemes = build_alignment("I 123", events, 500, RATE)
    assert words == [Word(0, 100, "I"), Word(100, 500, "123")]
    assert [p.word for p in phonemes] == ["I", "123", "123"]


def test_sample_positions_become_milliseconds() -> None:
    events = [word(1, 2, 0), ph("h", 2205), ph("'aI", 4410)]
    words, phonemes = build_alignment("Hi", events, 22050, 22050)
    assert [(p.t_ms, p.end_ms) for p in phonemes] == [(100, 200), (200, 1000)]
    assert words == [Word(0, 1000, "Hi")]
