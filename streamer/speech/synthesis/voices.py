"""Which espeak-ng voice a user means: language tags, names and identifiers, any case (I/O: lists voices once).

espeak-ng itself knows ``en-us`` but not ``en-gb`` or ``fr-FR`` (they are language tags of the
voices ``gmw/en`` and ``roa/fr``). :func:`resolve_voice` accepts what people type: a language
tag (``en-GB``, ``en-gb``, ``fr-fr``, ``de``), a voice file name (``en-GB-x-rp``), an
identifier (``gmw/en``) or a voice name (``English (Great Britain)``), case-insensitively,
with an optional ``+variant`` (``en-gb+f3``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from streamer.speech.errors import SpeechInputError
from streamer.speech.synthesis.espeak import VoiceInfo, installed_voices


@dataclass(frozen=True)
class VoiceTable:
    """The installed voices and every name each can be asked for by (lowercase)."""

    voices: tuple[VoiceInfo, ...]
    by_key: dict[str, str]  # lowercase tag, name or identifier -> identifier

    def resolve(self, voice: str) -> str:
        """The identifier to select for ``voice``; raises :class:`SpeechInputError` naming it."""
        base, plus, variant = voice.strip().partition("+")
        if not base:
            raise SpeechInputError("voice: must not be empty (list the voices with `streamer voices`)")
        found = self.by_key.get(base.lower().replace("_", "-"))
        if found is None:
            raise SpeechInputError(f"voice: unknown espeak voice {voice!r} (list the voices with `streamer voices`)")
        return found + plus + variant


def build_table(voices: list[VoiceInfo]) -> VoiceTable:
    """Index ``voices`` by tag, identifier, file name and name; for a tag, the voice that ranks it best wins."""
    by_key: dict[str, str] = {}
    ranked: dict[str, int] = {}
    for voice in voices:
        if voice.identifier.startswith("mb/"):
            continue  # MBROLA voices need databases that are not installed
        exact = {voice.identifier.lower(), voice.identifier.rsplit("/", 1)[-1].lower(), voice.name.lower()}
        for key in exact:
            if ranked.get(key) != -1:  # a voice's own name beats any language tag; the first voice keeps it
                by_key[key], ranked[key] = voice.identifier, -1
        for priority, tag in voice.languages:
            key = tag.lower()
            if ranked.get(key, 1 << 30) > priority:
                by_key[key], ranked[key] = voice.identifier, priority
    return VoiceTable(tuple(v for v in voices if not v.identifier.startswith("mb/")), by_key)


@functools.cache
def voice_table() -> VoiceTable:
    """The installed voices, listed once per process."""
    return build_table(installed_voices())


def resolve_voice(voice: str) -> str:
    """The espeak-ng voice to select for ``voice`` (a language tag, file name, identifier or name)."""
    return voice_table().resolve(voice)
