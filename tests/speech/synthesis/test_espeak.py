"""espeak-ng synthesis through ctypes: real audio, real timings."""

from __future__ import annotations

import hashlib
import io
import re
import wave
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from streamer.core.errors import StreamerError
from streamer.speech import Speech, SpeechInputError, synthesize, to_ogg_bytes, to_wav_bytes
from streamer.speech.formats.audio import LIVE_OPUS_COMPLEXITY, OPUS_COMPLEXITY
from streamer.speech.lipsync.arpabet import VOWELS

PHRASE = "Hello there. Nice to meet you!"


@pytest.fixture(scope="module")
def speech() -> Speech:
    return synthesize(PHRASE)


def _digest(speech: Speech) -> str:
    return hashlib.sha256(speech.samples.tobytes()).hexdigest()


def _rms(speech: Speech, t_ms: int, end_ms: int) -> float:
    part = speech.samples[t_ms * speech.sample_rate // 1000 : end_ms * speech.sample_rate // 1000].astype(np.float64)
    return float(np.sqrt(np.mean(part**2))) if len(part) else 0.0


def test_speaks_mono_int16_at_22050_hz_for_a_plausible_time(speech: Speech) -> None:
    assert speech.sample_rate == 22050
    assert speech.samples.dtype == np.int16 and speech.samples.ndim == 1
    assert 500 <= speech.duration_ms <= 5000


def test_words_follow_the_text_in_order(speech: Speech) -> None:
    assert [w.text for w in speech.words] == re.findall(r"\w+", PHRASE)
    starts = [w.t_ms for w in speech.words]
    assert starts == sorted(starts) and len(set(starts)) == len(starts)
    for word, after in zip(speech.words, speech.words[1:], strict=False):
        assert word.t_ms < word.end_ms <= after.t_ms
    assert speech.words[-1].end_ms <= speech.duration_ms


def test_phonemes_lie_inside_the_audio_and_vowels_come_out_as_arpabet(speech: Speech) -> None:
    assert speech.phonemes
    for p, after in zip(speech.phonemes, speech.phonemes[1:], strict=False):
        assert 0 <= p.t_ms < p.end_ms <= after.t_ms
    assert speech.phonemes[-1].end_ms <= speech.duration_ms
    vowels = [p.arpabet for p in speech.phonemes if p.arpabet and p.arpabet.rstrip("012") in VOWELS]
    assert {"OW1", "AY1", "IY1"} <= set(vowels)  # hellO, nIce, mEEt (stressed)
    assert {"AH0", "UW0"} <= set(vowels)  # hEllo, yOU (unstressed)
    assert all(v[-1] in "012" for v in vowels)
    sounding = [p for p in speech.phonemes if not p.is_pause]
    assert all(p.word in re.findall(r"\w+", PHRASE) for p in sounding)
    assert [p.arpabet for p in sounding if p.word == "Hello"][:2] == ["HH", "AH0"]


def test_audio_is_loud_where_words_are_and_quiet_between_sentences(speech: Speech) -> None:
    assert _rms(speech, 0, speech.duration_ms) > 1000
    for word in speech.words:
        assert _rms(speech, word.t_ms, word.end_ms) > 800, word
    there, nice = speech.words[1], speech.words[2]
    assert nice.t_ms - there.end_ms >= 100  # the full stop is a pause ...
    assert _rms(speech, there.end_ms + 10, nice.t_ms - 10) < 100  # ... and it is silent


def test_same_arguments_give_the_same_samples_whatever_was_spoken_before(speech: Speech) -> None:
    synthesize("Something else entirely, to move espeak's internal state along.", pitch=80)
    again = synthesize(PHRASE)
    assert _digest(again) == _digest(speech)
    assert again.words == speech.words and again.phonemes == speech.phonemes


def test_concurrent_calls_are_serialised_and_identical(speech: Speech) -> None:
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: synthesize(PHRASE), range(8)))
    assert {_digest(r) for r in results} == {_digest(speech)}


def test_rate_and_pitch_change_the_voice(speech: Speech) -> None:
    fast = synthesize(PHRASE, rate_wpm=300)
    assert fast.duration_ms < speech.duration_ms * 0.75
    assert _digest(synthesize(PHRASE, pitch=80)) != _digest(speech)


def test_word_positions_count_characters_not_bytes() -> None:
    words = synthesize("Café naïve, ok.").words
    assert [w.text for w in words] == ["Café", "naïve", "ok"]


def test_a_number_spoken_as_several_words_stays_one_word() -> None:
    words = synthesize("I have 123 apples.").words
    assert [w.text for w in words] == ["I", "have", "123", "apples"]


def test_contractions_are_one_word() -> None:
    assert [w.text for w in synthesize("I'm here, aren't I?").words] == ["I'm", "here", "aren't", "I"]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"text": ""}, "text"),
        ({"text": "   "}, "text"),
        ({"text": "a\0b"}, "text"),
        ({"text": "hi", "voice": "../../etc/passwd"}, "voice"),
        ({"text": "hi", "voice": "xx-nonexistent"}, "voice"),
        ({"text": "hi", "rate_wpm": 10}, "rate_wpm"),
        ({"text": "hi", "pitch": 101}, "pitch"),
    ],
)
def test_rejects_bad_arguments_naming_the_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(SpeechInputError, match=f"^{field}:") as info:
        synthesize(**kwargs)  # type: ignore[arg-type]
    assert isinstance(info.value, StreamerError) and isinstance(info.value, ValueError)


def test_other_voices_work() -> None:
    assert synthesize("Guten Tag", voice="de").words[0].text == "Guten"


def test_wav_bytes_hold_the_samples(speech: Speech) -> None:
    with wave.open(io.BytesIO(to_wav_bytes(speech))) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 22050)
        frames = wav.readframes(wav.getnframes())
    assert np.array_equal(np.frombuffer(frames, dtype="<i2"), speech.samples)


def test_ogg_opus_is_small_reproducible_and_as_long_as_the_speech(speech: Speech) -> None:
    av = pytest.importorskip("av")
    data = to_ogg_bytes(speech)
    assert data == to_ogg_bytes(speech)
    assert len(data) < len(to_wav_bytes(speech)) // 5
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        assert stream.codec_context.name == "opus"
        decoded = np.concatenate([frame.to_ndarray().reshape(-1) for frame in container.decode(stream)])
        rate = stream.rate
    assert abs(len(decoded) * 1000 / rate - len(speech.samples) * 1000 / speech.sample_rate) < 5
    # Opus is lossy but the speech must still be there, in the same places.
    loud = np.sqrt(np.mean(decoded.astype(np.float64) ** 2))
    assert loud > 0.02 if decoded.dtype.kind == "f" else loud > 1000


def test_live_segments_faster_opus_keeps_the_quality(speech: Speech) -> None:
    av = pytest.importorskip("av")

    def decoded(data: bytes) -> np.ndarray:
        with av.open(io.BytesIO(data)) as container:
            return np.concatenate([f.to_ndarray().reshape(-1) for f in container.decode(audio=0)]).astype(np.float64)

    reference = decoded(to_ogg_bytes(speech, bit_rate=128_000))

    def snr_db(complexity: int) -> float:
        x = decoded(to_ogg_bytes(speech, complexity=complexity))
        n = min(len(x), len(reference))
        return float(10 * np.log10(np.sum(reference[:n] ** 2) / np.sum((x[:n] - reference[:n]) ** 2)))

    assert snr_db(LIVE_OPUS_COMPLEXITY) >= snr_db(OPUS_COMPLEXITY) - 1.0, "no worse than the default"
    with pytest.raises(SpeechInputError, match="^complexity"):
        to_ogg_bytes(speech, complexity=11)


def test_words_espeak_speaks_as_one_keep_every_word_of_the_text() -> None:
    # espeak has one word event for "I am": "am" must not vanish from the timings.
    speech = synthesize("Hello! I am so happy to see you.")
    texts = [w.text for w in speech.words]
    assert texts == ["Hello", "I am", "so", "happy", "to", "see", "you"]
    joined = [p for p in speech.phonemes if p.word == "I am"]
    assert [p.symbol for p in joined][-1] == "m"  # the "am" sounds belong to the joined word
