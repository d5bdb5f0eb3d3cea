"""Emotion rules in Spanish, French and German; punctuation and emoji for any language (pure)."""

from __future__ import annotations

import re

import pytest

from streamer.core.emotion_plan import plan_messages
from streamer.core.emotions import analyze, plan_emotions, rules_for
from streamer.core.timeline import WordSpan

EXPRESSIONS = ["neutral", "happy_soft", "happy_big", "concerned", "surprised_ah"]


def words(text: str) -> list[WordSpan]:
    tokens = re.findall(r"[^\s¡¿!?.,。！？]+", text)
    return [WordSpan(i * 400, i * 400 + 300, t) for i, t in enumerate(tokens)]


def emotions(text: str, language: str | None) -> list[str]:
    return [s.emotion for s in analyze(words(text), text, language)]


@pytest.mark.parametrize(
    ("language", "text", "expected"),
    [
        ("es", "¡Estoy muy feliz!", ["joy"]),
        ("es", "Estoy triste. Lo siento.", ["sadness", "sadness"]),
        ("es", "No estoy contenta.", ["sadness"]),
        ("es", "Tengo miedo, es peligroso.", ["fear"]),
        ("es", "¿En serio?", ["surprise"]),
        ("es", "Estoy furiosa.", ["anger"]),
        ("fr", "Je suis très heureuse !", ["joy"]),
        ("fr", "J'adore ça !", ["joy"]),
        ("fr", "Je ne suis pas content.", ["sadness"]),
        ("fr", "Je suis désolé, c'est triste.", ["sadness"]),
        ("fr", "Quoi ? Vraiment ?", ["surprise", "surprise"]),
        ("de", "Ich bin so glücklich!", ["joy"]),
        ("de", "Das ist wirklich schrecklich.", ["sadness"]),
        ("de", "Ich habe große Angst.", ["fear"]),
        ("de", "Ich bin wütend!", ["anger"]),
        ("de", "Das ist nicht schlecht.", ["joy"]),
    ],
)
def test_word_lists_read_spanish_french_and_german(language: str, text: str, expected: list[str]) -> None:
    assert emotions(text, language) == expected


def test_the_language_comes_from_a_tag_or_an_espeak_voice() -> None:
    assert [rules_for(t).code for t in ("es", "es-419", "fr-FR", "roa/fr", "gmw/de", "gmw/en-US+f3")] == [
        "es",
        "es",
        "fr",
        "fr",
        "de",
        "en",
    ]
    assert rules_for("ja").code == "" and rules_for("cmn").lexicon == {}


def test_without_a_language_it_is_guessed_from_function_words() -> None:
    assert rules_for(None, words("Estoy muy triste con mi perro")).code == "es"
    assert rules_for(None, words("Je suis très triste avec mon chien")).code == "fr"
    assert rules_for(None, words("Ich bin sehr traurig mit meinem Hund")).code == "de"
    assert rules_for(None, words("Happy!")).code == "en"  # nothing tells: English, as before
    assert emotions("Ich bin traurig.", None) == ["sadness"]


def test_other_languages_use_punctuation_and_emoji() -> None:
    assert emotions("今日はとても楽しい！😀", "ja") == ["joy"]
    assert emotions("今日は雨です。", "ja") == ["neutral"]
    assert emotions("मैं बहुत दुखी हूँ 😢", "hi") == ["sadness"]
    assert emotions("ماذا؟! حقا؟!", "ar") == ["surprise", "surprise"]
    # An English word list does not leak into another language: "happy" in a Japanese line is not read.
    assert emotions("happy", "ja") == ["neutral"]


def test_inverted_marks_open_a_sentence_and_add_nothing() -> None:
    one = analyze(words("¡Qué bien!"), "¡Qué bien!", "es")
    other = analyze(words("Qué bien!"), "Qué bien!", "es")
    assert one == other and one[0].emotion == "joy"


def test_a_spanish_plan_uses_the_rig_expressions() -> None:
    text = "¡Hola! Estoy muy feliz."
    track = plan_emotions(words(text), EXPRESSIONS, text, language="es")
    assert [k["expr"] for k in track] == ["happy_soft", "happy_big", "neutral"]


def test_the_openai_prompt_keeps_any_language_as_written() -> None:
    text = "¡Qué día tan bonito! 今日は楽しい 😀"
    system, user = plan_messages(words(text), EXPRESSIONS, text)
    assert "any language" in system["content"]
    assert "0=Qué 1=día 2=tan 3=bonito 4=今日は楽しい" in user["content"] and text in user["content"]
