"""Pure helpers for speech services: characters to words, phonemes spread over words, readable service errors."""

from __future__ import annotations

import pytest

from streamer.server.errors import http_status
from streamer.settings import ConfigError, Settings
from streamer.speech.errors import ProviderError, TimingError
from streamer.speech.model import Phoneme, Word
from streamer.speech.services.failures import detail_of, retry_after_s, status_error
from streamer.speech.timing import match_words, spread_phonemes, tidy_words, words_from_characters


def test_characters_group_into_words_at_whitespace() -> None:
    chars = list("Hi, you!")
    starts = [i * 0.1 for i in range(len(chars))]
    ends = [s + 0.1 for s in starts]
    assert words_from_characters(chars, starts, ends) == [Word(0, 300, "Hi,"), Word(400, 800, "you!")]
    assert words_from_characters([], [], []) == []
    assert words_from_characters([" ", "\n"], [0, 0.1], [0.1, 0.2]) == []


@pytest.mark.parametrize(
    ("chars", "starts", "ends", "message"),
    [
        (["a"], [0.0, 0.1], [0.1], "1 characters but 2 start and 1 end times"),
        (["a"], [float("nan")], [0.1], "alignment.character_start_times_seconds[0]"),
        (["a"], [0.0], ["x"], "alignment.character_end_times_seconds[0]"),
        ([3], [0.0], [0.1], "alignment.characters[0]: must be a string"),
    ],
)
def test_bad_character_timings_name_the_field(chars: list, starts: list, ends: list, message: str) -> None:
    with pytest.raises(TimingError, match=message.replace("[", r"\[").replace("]", r"\]")):
        words_from_characters(chars, starts, ends)


def test_tidy_words_never_go_back_or_overlap() -> None:
    assert tidy_words([(100, 500, "a"), (400, 600, "b"), (300, 350, "c")]) == [
        Word(100, 400, "a"),
        Word(400, 400, "b"),
        Word(400, 400, "c"),
    ]


def test_match_words_pairs_words_by_their_espeak_tokens() -> None:
    targets = ["Hello,", "world!", "—", "it's", "3:45"]
    reference = ["hello", "world", "it's", "3", "45"]
    assert match_words(targets, reference) == [[0], [1], [], [2], [3, 4]]
    assert match_words(["brave", "new"], ["new"]) == [[], [0]]


def test_spread_phonemes_stretches_a_word_into_its_span() -> None:
    phonemes = [
        Phoneme(1000, 1050, "_:"),
        Phoneme(1050, 1100, "h", "HH", "hi"),
        Phoneme(1100, 1250, "aI", "AY1", "hi"),
    ]
    out = spread_phonemes(phonemes, Word(0, 300, "Hi!"))
    assert out == [Phoneme(0, 75, "h", "HH", "Hi!"), Phoneme(75, 300, "aI", "AY1", "Hi!")]
    assert spread_phonemes(phonemes, Word(10, 10, "x")) == []
    assert spread_phonemes([], Word(0, 100, "x")) == []


def test_status_errors_name_the_provider_the_status_and_what_to_do() -> None:
    error = status_error("elevenlabs", 429, {"Retry-After": "2.5"}, {"detail": {"message": "Too many"}}, "K")
    assert isinstance(error, ProviderError) and error.reason == "rate_limited" and error.retry_after_s == 2.5
    assert str(error).startswith("elevenlabs: rate limited (429): retry in 3 s") and str(error).endswith("Too many")
    assert http_status(error) == 503
    assert str(status_error("openai", 401, {}, {"error": {"message": "bad key"}}, "OPENAI_API_KEY")) == (
        "openai: unauthorized (401): check OPENAI_API_KEY: bad key"
    )
    assert http_status(status_error("x", 502, None, None, "K")) == 502
    assert status_error("x", 404, None, "nope", "K").reason == "rejected"
    assert status_error("x", 200, None, "junk", "K").reason == "malformed"


def test_retry_after_and_error_details() -> None:
    assert retry_after_s({"retry-after-ms": "250"}) == 0.25
    assert retry_after_s({"retry-after": "Wed, 21 Oct 2015"}) is None
    assert retry_after_s(None) is None
    assert detail_of({"detail": [{"msg": "field required"}]}) == "field required"
    assert detail_of("a\n  b") == "a b"
    assert detail_of(None) == ""
    assert len(detail_of("x" * 1000)) == 203


def test_provider_settings_are_read_and_checked() -> None:
    settings = Settings.from_env(
        {
            "STREAMER_OPENAI_MODEL": "gpt-test",
            "STREAMER_OPENAI_TIMEOUT_MS": "2500",
            "STREAMER_ELEVENLABS_VOICE": "v1",
            "STREAMER_ELEVENLABS_MAX_RETRIES": "0",
            "STREAMER_EMOTIONS": "Rules",
        }
    )
    assert (settings.openai_model, settings.openai_timeout_ms, settings.elevenlabs_voice) == ("gpt-test", 2500, "v1")
    assert settings.elevenlabs_max_retries == 0 and settings.emotions == "rules"
    defaults = Settings.from_env({})
    assert (defaults.openai_timeout_ms, defaults.openai_max_retries, defaults.emotions) == (15_000, 1, "auto")
    with pytest.raises(ConfigError, match="STREAMER_EMOTIONS: must be one of rules, openai, auto"):
        Settings.from_env({"STREAMER_EMOTIONS": "gpt"})
    with pytest.raises(ConfigError, match="STREAMER_EMOTIONS: 'openai' needs OPENAI_API_KEY"):
        Settings.from_env({"STREAMER_EMOTIONS": "openai"})
    with pytest.raises(ConfigError, match="STREAMER_OPENAI_TIMEOUT_MS"):
        Settings.from_env({"STREAMER_OPENAI_TIMEOUT_MS": "5"})
    assert "sk-" not in repr(Settings.from_env({"OPENAI_API_KEY": "sk-secret", "ELEVENLABS_API_KEY": "sk-e"}))


def test_words_espeak_reads_as_one_share_its_phonemes_inside_their_own_spans() -> None:
    from streamer.speech.synthesis.g2p import phonemes_for_words

    words = [Word(0, 300, "Hello!"), Word(400, 500, "I"), Word(500, 700, "am"), Word(700, 900, "so")]
    phonemes = phonemes_for_words(words)
    assert match_words(["I", "am"], ["I am"]) == [[0], [0]]
    for word in words:
        mine = [p for p in phonemes if p.word == word.text]
        assert mine, word  # "I" and "am" both move the mouth
        assert all(word.t_ms <= p.t_ms < p.end_ms <= word.end_ms for p in mine)
