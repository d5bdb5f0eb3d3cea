"""Mouth classes by articulation, and rig viseme keys by symbol or class (pure)."""

from __future__ import annotations

import pytest

from streamer.core.articulation import ARPABET_IPA, articulation, mouth_class
from streamer.core.rig import parse_rig_config
from tests.rigs import tiny_config


@pytest.mark.parametrize(
    ("symbol", "cls"),
    [
        *[(s, "closed") for s in ("p", "b", "m", "pʰ", "bʲ", "mː", "ɓ", "β", "ɸ", "k͡p", "m̩", "b#")],
        *[(s, "labiodental") for s in ("f", "v", "ɱ", "ʋ", "v")],
        *[(s, "open") for s in ("a", "ˈa", "ä", "ɑ̃", "ˈɐ̃", "æ", "ʌ", "ə", "ɜ", "aɪ", "ˈaʊ", "ɒ")],
        *[(s, "spread") for s in ("i", "ˈiː", "ɪ", "e", "ɛ", "ɛ̃", "eː", "ɨ", "ɯᵝ", "ɤ", "ɛɪ", "ei")],
        *[(s, "rounded") for s in ("u", "ˈuː", "y", "ʏ", "ʉ", "ʊ", "ũ", 'ˈu"')],
        *[(s, "round") for s in ("o", "o̞", "ɔ", "ɔ̃", "ø", "œ̃", "œy", "uo", "oʊ")],
        *[(s, "rest") for s in ("t", "d", "k", "s", "ʃ", "ɾ", "ʁ", "ŋ", "tʲ", "n̪", "ħ", "ʔ", "w", "j")],
    ],
)
def test_symbols_get_their_mouth_class(symbol: str, cls: str) -> None:
    assert mouth_class(symbol) == cls


@pytest.mark.parametrize("symbol", ["", "_", "ʲ", "ː", "55", "AH0", "?"])
def test_silence_modifiers_and_non_ipa_name_no_sound(symbol: str) -> None:
    assert articulation(symbol) is None and mouth_class(symbol) is None


def test_a_bilabial_anywhere_in_a_cluster_closes_the_mouth() -> None:
    assert mouth_class("mb") == "closed" and mouth_class("pf") == "closed" and mouth_class("tʃ") == "rest"


def test_a_diphthong_takes_its_most_open_vowel() -> None:
    assert articulation("aɪ") == articulation("a") and articulation("uə") == articulation("ə")


def test_every_arpabet_phone_has_a_class() -> None:
    assert {p: mouth_class(ipa) for p, ipa in ARPABET_IPA.items() if mouth_class(ipa) is None} == {}
    assert [p for p, ipa in ARPABET_IPA.items() if mouth_class(ipa) == "closed"] == ["B", "M", "P"]


def test_rig_viseme_keys_by_arpabet_symbol_and_class() -> None:
    config = tiny_config()
    exprs = list(config["expressions"])
    config["visemes"] = {"aa": exprs[1], "/ɔ̃/": exprs[1], "/Y/": exprs[1], "closed": exprs[0], "rounded": exprs[1]}
    visemes = parse_rig_config(config).visemes
    assert set(visemes) == {"AA", "/ɔ̃/", "/Y/", "closed", "rounded"}
