"""Offline text-to-speech with espeak-ng through ctypes, in process (I/O: loads the native library).

The library and its voice data come from the ``espeakng-loader`` wheel. espeak keeps global
state and is not thread-safe, so one lock serialises every synthesis, and each synthesis runs
on a freshly loaded and initialised library (see :class:`_Session`) so that output is
deterministic. Synthesis is synchronous: espeak calls our callback with chunks of 22.05 kHz
samples and the word and phoneme events that fall in them.

Phoneme events name each sound. English voices report espeak's English mnemonics, which map
to ARPAbet (the English phone set rigs' viseme maps are written in); every other voice reports
IPA, which no single language's table covers, and lip-sync reads its articulation
(:mod:`streamer.core.articulation`). espeak's mnemonics differ between languages' phoneme
tables (Portuguese ``y`` is ɨ, German ``y`` is y), so only IPA means the same in all of them.
"""

from __future__ import annotations

import ctypes
import logging
import os
import re
import threading
from dataclasses import dataclass

import numpy as np

from streamer.speech.errors import SpeechError, SpeechInputError
from streamer.speech.model import Speech
from streamer.speech.synthesis.espeak_events import EVENT_PHONEME, RawEvent, build_alignment, decode_mnemonic

log = logging.getLogger(__name__)

MIN_RATE_WPM, MAX_RATE_WPM = 80, 450
MAX_TEXT_CHARS = 20_000
_VOICE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_\-]*(/[A-Za-z0-9_\-]+)?(\+[A-Za-z0-9_\-]+)?")

# speak_lib.h constants.
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_PHONEME_EVENTS = 0x0001
_INITIALIZE_PHONEME_IPA = 0x0002
_INITIALIZE_DONT_EXIT = 0x8000
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_PARAM_RATE, _PARAM_VOLUME, _PARAM_PITCH = 1, 2, 3
_EE_OK, _EE_NOT_FOUND = 0, 2


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    """``espeak_EVENT``."""

    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    ]


class _Voice(ctypes.Structure):
    """``espeak_VOICE``; ``languages`` is a list of (priority byte, NUL-terminated tag), ended by a 0 byte."""

    _fields_ = [
        ("name", ctypes.c_char_p),
        ("languages", ctypes.c_void_p),
        ("identifier", ctypes.c_char_p),
        ("gender", ctypes.c_ubyte),
        ("age", ctypes.c_ubyte),
        ("variant", ctypes.c_ubyte),
        ("xx1", ctypes.c_ubyte),
        ("score", ctypes.c_int),
        ("spare", ctypes.c_void_p),
    ]


@dataclass(frozen=True)
class VoiceInfo:
    """An installed espeak-ng voice: its name, identifier (``gmw/en-US``), gender and language tags.

    ``languages`` are ``(priority, tag)`` pairs, lower priority numbers preferred for the tag.
    """

    name: str
    identifier: str
    gender: str  # "male", "female" or "" when the voice does not say
    languages: tuple[tuple[int, str], ...]


_SynthCallback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))


@dataclass
class _Collector:
    """What the callback gathers during one ``espeak_Synth`` call."""

    chunks: list[bytes]
    events: list[RawEvent]


def _library_paths() -> tuple[str, str]:
    try:
        import espeakng_loader

        return str(espeakng_loader.get_library_path()), str(espeakng_loader.get_data_path())
    except (ImportError, RuntimeError) as exc:
        raise SpeechError(f"espeak-ng is not available (pip install espeakng-loader): {exc}") from exc


def _unload(handle: int) -> None:
    import _ctypes

    close = getattr(_ctypes, "dlclose", None) or getattr(_ctypes, "FreeLibrary", None)
    if close is not None:
        close(handle)


_warned_shared = False


def _warn_if_still_loaded(lib_path: str) -> None:
    """Log once if something else in the process holds espeak-ng (its state then carries over)."""
    global _warned_shared
    no_load = getattr(os, "RTLD_NOLOAD", None)
    if _warned_shared or no_load is None:
        return
    try:
        other = ctypes.CDLL(lib_path, mode=no_load)
    except OSError:
        return  # unloaded, as intended
    _unload(other._handle)
    _warned_shared = True
    log.warning("espeak-ng is also loaded by another component of this process: speech may not be deterministic")


class _Session:
    """espeak-ng loaded and initialised for one synthesis, unloaded on exit.

    espeak keeps wave-generator state (pitch flutter and waveform phase) in static variables
    that neither ``espeak_Terminate`` nor a new ``espeak_Initialize`` resets, so the second
    utterance of a process differs from the first. A fresh copy of the library for each
    synthesis (about 5 ms) makes the output a function of the arguments alone.
    """

    def __init__(self, ipa: bool = False) -> None:
        self.ipa = ipa  # phoneme events name sounds in IPA instead of espeak's mnemonics
        lib_path, self.data_path = _library_paths()
        self.lib_path = lib_path
        try:
            self.lib = ctypes.CDLL(lib_path)
        except OSError as exc:
            raise SpeechError(f"cannot load espeak-ng from {lib_path!r}: {exc}") from exc
        lib = self.lib
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetSynthCallback.argtypes = [_SynthCallback]
        lib.espeak_SetSynthCallback.restype = None
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_Synth.argtypes = [
            ctypes.c_void_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.POINTER(ctypes.c_uint),
            ctypes.c_void_p,
        ]
        lib.espeak_Synth.restype = ctypes.c_int
        lib.espeak_ListVoices.argtypes = [ctypes.c_void_p]
        lib.espeak_ListVoices.restype = ctypes.POINTER(ctypes.POINTER(_Voice))
        lib.espeak_Terminate.argtypes = []
        lib.espeak_Terminate.restype = ctypes.c_int
        self.sample_rate = 0
        self._current: _Collector | None = None
        # Kept on the instance: ctypes callbacks must outlive every call espeak makes to them.
        self._callback = _SynthCallback(self._on_synth)

    def __enter__(self) -> _Session:
        flags = _INITIALIZE_PHONEME_EVENTS | _INITIALIZE_DONT_EXIT | (_INITIALIZE_PHONEME_IPA if self.ipa else 0)
        self.sample_rate = self.lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, self.data_path.encode(), flags)
        if self.sample_rate <= 0:
            _unload(self.lib._handle)
            raise SpeechError(
                f"espeak-ng failed to initialise with data at {self.data_path!r} (code {self.sample_rate})"
            )
        self.lib.espeak_SetSynthCallback(self._callback)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.lib.espeak_Terminate()
        _unload(self.lib._handle)
        _warn_if_still_loaded(self.lib_path)

    def _on_synth(self, wav: ctypes._Pointer[ctypes.c_short], n_samples: int, events: ctypes._Pointer[_Event]) -> int:
        current = self._current
        if current is None:
            return 1  # not during our synthesis: abort
        if wav and n_samples > 0:
            current.chunks.append(ctypes.string_at(wav, n_samples * 2))
        i = 0
        while events[i].type != 0:  # espeakEVENT_LIST_TERMINATED
            e = events[i]
            name = decode_mnemonic(bytes(e.id.string)) if e.type == EVENT_PHONEME else ""
            current.events.append(RawEvent(e.type, e.text_position, e.length, e.sample, name))
            i += 1
        return 0

    def voices(self) -> list[VoiceInfo]:
        """Every installed voice (``espeak_ListVoices``)."""
        found = self.lib.espeak_ListVoices(None)
        out = []
        i = 0
        while found[i]:
            voice = found[i].contents
            languages, at = [], voice.languages
            while at and (priority := ctypes.string_at(at, 1)[0]) != 0:
                tag = ctypes.string_at(at + 1)
                languages.append((priority, tag.decode("ascii", "replace")))
                at += 2 + len(tag)
            gender = {1: "male", 2: "female"}.get(voice.gender, "")
            name, identifier = (voice.name or b"").decode(), (voice.identifier or b"").decode()
            out.append(VoiceInfo(name, identifier, gender, tuple(languages)))
            i += 1
        return out

    def synthesize(self, text: str, voice: str, rate_wpm: int, pitch: int) -> tuple[bytes, list[RawEvent]]:
        lib = self.lib
        status = lib.espeak_SetVoiceByName(voice.encode())
        if status == _EE_NOT_FOUND:
            raise SpeechInputError(f"voice: unknown espeak voice {voice!r}")
        if status != _EE_OK:
            raise SpeechError(f"espeak-ng could not select voice {voice!r} (code {status})")
        lib.espeak_SetParameter(_PARAM_RATE, rate_wpm, 0)
        lib.espeak_SetParameter(_PARAM_PITCH, pitch, 0)
        lib.espeak_SetParameter(_PARAM_VOLUME, 100, 0)
        data = text.encode("utf-8") + b"\0"
        self._current = collector = _Collector([], [])
        try:
            status = lib.espeak_Synth(data, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
        finally:
            self._current = None
        if status != _EE_OK:
            raise SpeechError(f"espeak-ng synthesis failed (code {status})")
        return b"".join(collector.chunks), collector.events


# espeak's state is process-global (and shared by every copy we load): one synthesis at a time.
_lock = threading.Lock()


def installed_voices() -> list[VoiceInfo]:
    """Every voice espeak-ng has installed, in its own order (blocking: loads the library)."""
    with _lock, _Session() as session:
        return session.voices()


def _check(text: str, voice: str, rate_wpm: int, pitch: int) -> None:
    if not isinstance(text, str) or not text.strip():
        raise SpeechInputError("text: must be a non-empty string")
    if len(text) > MAX_TEXT_CHARS:
        raise SpeechInputError(f"text: {len(text)} characters is over the limit of {MAX_TEXT_CHARS}")
    if "\0" in text:
        raise SpeechInputError("text: must not contain NUL characters")
    if not isinstance(voice, str) or not voice.strip():
        raise SpeechInputError("voice: must not be empty (list the voices with `streamer voices`)")
    if isinstance(rate_wpm, bool) or not isinstance(rate_wpm, int) or not MIN_RATE_WPM <= rate_wpm <= MAX_RATE_WPM:
        raise SpeechInputError(f"rate_wpm: must be an integer in [{MIN_RATE_WPM}, {MAX_RATE_WPM}], got {rate_wpm!r}")
    if isinstance(pitch, bool) or not isinstance(pitch, int) or not 0 <= pitch <= 100:
        raise SpeechInputError(f"pitch: must be an integer in [0, 100], got {pitch!r}")


def is_english(espeak_voice: str) -> bool:
    """Whether an espeak voice identifier (``gmw/en-US+f3``) is an English voice."""
    name = espeak_voice.partition("+")[0].rsplit("/", 1)[-1].lower()
    return name == "en" or name.startswith("en-")


def synthesize(text: str, voice: str = "en-us", rate_wpm: int = 165, pitch: int = 50) -> Speech:
    """Speak ``text`` with espeak-ng: mono int16 samples at 22.05 kHz with word and phoneme timings.

    ``voice`` is a language tag (``en-GB``, ``fr-fr``), a voice file name or an identifier, in
    any case (:mod:`streamer.speech.synthesis.voices`). Phonemes of English voices carry espeak's
    mnemonics and ARPAbet; those of every other voice their IPA (``Phoneme.arpabet`` is
    ``None``). Deterministic: the same arguments give the same samples. Blocks for the
    synthesis (hundreds of times faster than real time); run it off the event loop. Raises
    :class:`SpeechInputError` for empty or oversized text, an unknown voice, or a rate or pitch
    out of range, and :class:`SpeechError` if espeak-ng cannot be loaded or fails.
    """
    from streamer.speech.synthesis.voices import resolve_voice

    _check(text, voice, rate_wpm, pitch)
    espeak_voice = resolve_voice(voice)  # only installed voices' identifiers get past this
    if not _VOICE.fullmatch(espeak_voice):
        raise SpeechInputError(f"voice: invalid espeak voice name {voice!r}")
    ipa = not is_english(espeak_voice)
    with _lock, _Session(ipa=ipa) as session:
        pcm, events = session.synthesize(text, espeak_voice, rate_wpm, pitch)
        sample_rate = session.sample_rate
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.int16)
    samples.setflags(write=False)
    words, phonemes = build_alignment(text, events, len(samples), sample_rate, ipa=ipa)
    return Speech(samples=samples, sample_rate=sample_rate, words=words, phonemes=phonemes, text=text)
