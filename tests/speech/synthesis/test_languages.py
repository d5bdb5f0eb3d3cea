"""Lip-sync in many languages from espeak-ng's phonemes: vowels open the mouth, bilabials close it."""

from __future__ import annotations

import pytest

from streamer.core.articulation import ARPABET_IPA, mouth_class
from streamer.core.rig import DEFAULT_VISEMES
from streamer.speech.lipsync.arpabet import base
from streamer.speech.lipsync.visemes import ANTICIPATION_MS, speech_track, viseme_for
from streamer.speech.model import Phoneme
from streamer.speech.say import say
from streamer.speech.synthesis.espeak import synthesize
from streamer.speech.synthesis.espeak_events import EVENT_END, EVENT_PHONEME, EVENT_WORD, RawEvent, build_alignment
from tests.rigs import demo_rig

# Sentences rich in bilabials next to vowels ("mama", "bebe"), one per espeak voice.
SENTENCES = {
    "en-us": "My bright puppy embraces happy moms and big apples.",
    "es": "¡Hola! Mi madre bebe poco vino blanco.",
    "fr": "Bonjour, mon petit ami, un bon vin blanc.",
    "de": "Mein Bruder möchte über Brücken laufen.",
    "it": "Mio padre beve un buon vino bianco.",
    "pt": "O meu pai bebe um bom vinho branco.",
    "nl": "Mijn broer bakt bruine broodjes.",
    "pl": "Mój brat pije mleko w Poznaniu.",
    "ru": "Мой папа любит пить молоко.",
    "cmn": "我爸爸妈妈买了苹果。",
    "ja": "ぼくのママはパンがすき。",
    "hi": "मेरा भाई पानी पीता है।",
    "ar": "أبي يحب البرتقال.",
    "sw": "Baba yangu anapenda mbuzi.",
    "tr": "Babam beni bekliyor.",
    "vi": "Bố mẹ tôi mua bánh mì.",
}
OPEN = {"speaking_ah", "speaking_ee", "speaking_uw", "oh_round"}
CLOSED = "neutral"  # the demo rig's neutral mouth is closed lips


def _class(p: Phoneme) -> str | None:
    """The mouth class by articulation: IPA symbols as they are, English phonemes through ARPAbet."""
    return mouth_class(p.symbol if p.arpabet is None else ARPABET_IPA[base(p.arpabet)])


def _is_vowel(p: Phoneme) -> bool:
    return _class(p) in {"open", "spread", "rounded", "round"}


def _is_bilabial(p: Phoneme) -> bool:
    return _class(p) == "closed"


def _shown(track: list[dict], p: Phoneme, visemes: set[str]) -> bool:
    """Whether a cue with one of ``visemes`` shows between the phoneme's anticipated onset and its end."""
    start = max(0, p.t_ms - ANTICIPATION_MS)
    return any(c["t_ms"] < p.end_ms and start < c["end_ms"] and c["viseme"] in visemes for c in track)


@pytest.mark.parametrize("voice", sorted(SENTENCES))
def test_every_vowel_opens_the_mouth_and_every_bilabial_closes_it(voice: str) -> None:
    speech = synthesize(SENTENCES[voice], voice=voice)
    track = speech_track(speech.phonemes, demo_rig().config.visemes)
    vowels = [p for p in speech.phonemes if _is_vowel(p)]
    bilabials = [p for p in speech.phonemes if _is_bilabial(p)]
    assert len(vowels) >= 6 and len(bilabials) >= 3, [p.symbol for p in speech.phonemes]
    assert [p.symbol for p in vowels if not _shown(track, p, OPEN)] == []
    assert [p.symbol for p in bilabials if not _shown(track, p, {CLOSED})] == []


@pytest.mark.parametrize("voice", sorted(set(SENTENCES) - {"en-us"}))
def test_other_voices_report_ipa_with_timings_that_tile_the_audio(voice: str) -> None:
    speech = synthesize(SENTENCES[voice], voice=voice)
    sounding = [p for p in speech.phonemes if not p.is_pause]
    assert all(p.arpabet is None for p in speech.phonemes)
    assert all(mouth_class(p.symbol) is not None for p in sounding), [p.symbol for p in sounding]
    assert all(p.symbol != "ʲ" for p in speech.phonemes)  # a modifier lengthens the sound before it
    for a, b in zip(speech.phonemes, speech.phonemes[1:], strict=False):
        assert a.t_ms < a.end_ms <= b.t_ms
    assert speech.phonemes[0].t_ms >= 0 and speech.phonemes[-1].end_ms <= speech.duration_ms
    assert {p.word for p in sounding} <= {w.text for w in speech.words}


def test_a_palatalised_consonant_keeps_its_modifier_time() -> None:
    speech = synthesize("Мой папа любит пить молоко.", voice="ru")
    symbols = [p.symbol for p in speech.phonemes]
    assert "ʲ" not in symbols and "tʲ" in symbols


def test_english_keeps_espeak_mnemonics_and_arpabet() -> None:
    speech = synthesize("Mom is happy.", voice="en-us")
    assert [p.arpabet for p in speech.phonemes if p.arpabet][:3] == ["M", "AA1", "M"]


def test_a_rig_overrides_by_symbol_by_class_and_by_arpabet() -> None:
    front_round = Phoneme(0, 100, "y", None, "tu")
    nasal = Phoneme(0, 100, "ˈɔ̃", None, "bon")
    bilabial = Phoneme(0, 100, "b", None, "bon")
    english = Phoneme(0, 100, "'A:", "AA1", "car")
    base_map = dict(DEFAULT_VISEMES)
    assert [viseme_for(p, base_map) for p in (front_round, nasal, bilabial, english)] == [
        "speaking_uw",  # a face_rig map serves "rounded" through UW
        "oh_round",
        "neutral",
        "speaking_ah",
    ]
    custom = {**base_map, "/y/": "speaking_ee", "/ɔ/": "speaking_ah", "closed": "lips_pressed", "AA1": "wide"}
    assert [viseme_for(p, custom) for p in (front_round, nasal, bilabial, english)] == [
        "speaking_ee",
        "speaking_ah",  # "/ɔ/" matches "ˈɔ̃" without stress and nasal mark
        "lips_pressed",
        "wide",
    ]


def test_a_closed_mouth_is_not_merged_away_between_vowels() -> None:
    phonemes = [Phoneme(0, 90, "a"), Phoneme(90, 130, "m"), Phoneme(130, 220, "a")]
    track = speech_track(phonemes, DEFAULT_VISEMES, anticipation_ms=0)
    assert [(c["t_ms"], c["end_ms"], c["viseme"]) for c in track] == [
        (0, 70, "speaking_ah"),
        (70, 130, "neutral"),
        (130, 220, "speaking_ah"),
    ]


def test_spanish_say_plans_joy_and_lip_syncs() -> None:
    rig = demo_rig()
    said = say(
        "¡Hola! Estoy muy feliz.", list(rig.config.expressions), rig.config.visemes, voice="es", emotions="rules"
    )
    assert [e["expr"] for e in said.emotion] == ["happy_soft", "happy_big", "neutral"]  # "¡Hola!", then "feliz"
    speech = said.timeline("a" * 16)["tracks"]["speech"]
    assert {c["viseme"] for c in speech} >= {"speaking_ah", "oh_round", "neutral"}


def test_ipa_events_get_no_arpabet_and_modifiers_join_the_sound_before() -> None:
    events = [
        RawEvent(EVENT_WORD, 1, 4, 0),
        RawEvent(EVENT_PHONEME, 0, 0, 0, "p"),
        RawEvent(EVENT_PHONEME, 0, 0, 40, "ʲ"),
        RawEvent(EVENT_PHONEME, 0, 0, 60, "ˈi"),
        RawEvent(EVENT_PHONEME, 0, 0, 150, "tʲ"),
        RawEvent(EVENT_PHONEME, 0, 0, 200, ""),
        RawEvent(EVENT_END, 0, 0, 220),
    ]
    words, phonemes = build_alignment("пить", events, 220, 1000, ipa=True)
    assert [(p.t_ms, p.end_ms, p.symbol, p.arpabet) for p in phonemes] == [
        (0, 60, "p", None),
        (60, 150, "ˈi", None),
        (150, 200, "tʲ", None),
        (200, 220, "", None),
    ]
    assert [(w.t_ms, w.end_ms, w.text) for w in words] == [(0, 200, "пить")]
    # The same events read as English mnemonics map to ARPAbet, as before.
    assert [p.arpabet for p in build_alignment("pit", events, 220, 1000)[1]][:1] == ["P"]


def test_word_mode_finds_the_vowels_of_any_language() -> None:
    speech = synthesize("Bonjour mon ami", voice="fr")
    track = speech_track(speech.phonemes, DEFAULT_VISEMES, mode="word", words=None)
    assert [c["viseme"] for c in track if c["viseme"] != "neutral"] == ["oh_round", "oh_round", "speaking_ah"]
