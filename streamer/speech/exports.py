"""Exports: a v1 timeline's words and lip-sync as captions (SRT, WebVTT), Rhubarb cues and TextGrids (pure).

Public API::

    captions(words, text=None, ...) -> list[Caption]          grouping for subtitles
    write_srt(captions) / write_vtt(captions) -> str
    mouth_cues(speech, visemes_map, duration_ms) -> list[MouthCue]   our cues as Rhubarb shapes, gaps as X
    write_rhubarb_json(cues, duration_ms, sound_file) / write_rhubarb_tsv(cues) -> str
    export_timeline(timeline, fmt, visemes_map) -> Exported   any of FORMATS, with its media type
    format_for_path(path, fmt=None) -> str

Captions break at sentence ends (punctuation comes from the words themselves or from the
timeline's ``meta.text``), at pauses of ``pause_ms`` or more, and whenever the next word would
not fit in ``max_lines`` lines of ``max_chars`` characters or would make the caption last more
than ``max_ms``. A caption stays up at least ``min_ms`` unless the next one starts sooner.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from streamer.core.errors import TimelineError
from streamer.core.timeline import SpeechCue, Timeline, WordSpan
from streamer.speech.model import FormatError
from streamer.speech.rhubarb import REST, MouthCue, shape_for_cue
from streamer.speech.textgrid import Interval, write_textgrid

FORMATS: Mapping[str, tuple[str, str]] = {  # format -> (file extension, media type)
    "srt": (".srt", "application/x-subrip; charset=utf-8"),
    "vtt": (".vtt", "text/vtt; charset=utf-8"),
    "rhubarb_json": (".json", "application/json"),
    "rhubarb_tsv": (".tsv", "text/tab-separated-values; charset=utf-8"),
    "textgrid": (".TextGrid", "text/plain; charset=utf-8"),
}
MAX_CHARS = 42  # per line: the common broadcast and streaming-platform limit
MAX_LINES = 2
MAX_CAPTION_MS = 6000
MIN_CAPTION_MS = 1000
PAUSE_MS = 500
_SENTENCE_END = re.compile(r"[.!?…。！？][\"'”’)\]]*$")


class NothingToExport(TimelineError):
    """The timeline lacks the track a format needs (no words for captions, no speech for lip-sync)."""


# -- captions ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Caption:
    t_ms: int
    end_ms: int
    lines: tuple[str, ...]


def punctuate(words: Sequence[WordSpan], text: str | None) -> list[str]:
    """Each word as written in ``text``, with the punctuation around it ("hello" -> "Hello!").

    Words are found in order as whole words, case-insensitively. Transcript text that no word
    matched (a word the speech engine merged, "42" read as "forty two") joins the next word
    found, and the unmatched words in between show nothing, so captions read as the transcript.
    Without ``text``, or when nothing matches, words keep their own text.
    """
    out = [w.text.strip() for w in words]
    if not text:
        return out
    cursor, pending = 0, []  # pending: words not found since the last one that was
    for i, word in enumerate(out):
        pattern = rf"(?<![\w'’]){re.escape(word)}(?![\w'’])" if word else None
        found = re.compile(pattern, re.IGNORECASE).search(text, cursor) if pattern else None
        if found is None:
            pending.append(i)
            continue
        start, end = found.span()
        while end < len(text) and _is_punct(text[end]):
            end += 1
        if any(c.isalnum() for c in text[cursor:start]):
            start = cursor
            for k in pending:
                out[k] = ""
        else:
            while start > cursor and _is_punct(text[start - 1]):
                start -= 1
        out[i] = text[start:end].strip()
        cursor, pending = end, []
    return out


def _is_punct(char: str) -> bool:
    """Punctuation that belongs to the word next to it (not spaces, letters, digits or hyphens)."""
    return not (char.isspace() or char.isalnum() or char in "-_")


def _fits(words: Sequence[str], max_chars: int, max_lines: int) -> bool:
    """Whether ``words`` wrap (greedily, which needs the fewest lines) into ``max_lines`` lines."""
    lines, length = 1, 0
    for w in words:
        if length and length + 1 + len(w) > max_chars:
            lines, length = lines + 1, len(w)
        else:
            length += len(w) + (1 if length else 0)
    return lines <= max_lines


def _lines(words: Sequence[str], max_chars: int) -> tuple[str, ...]:
    """One line if it fits, else two split where the longer line is shortest (the top one on a tie)."""
    whole = " ".join(words)
    if len(whole) <= max_chars or len(words) < 2:
        return (whole,)
    best: tuple[int, int] | None = None
    for k in range(1, len(words)):
        top, bottom = " ".join(words[:k]), " ".join(words[k:])
        score = max(len(top), len(bottom))
        if best is None or score < best[0]:
            best = (score, k)
    assert best is not None
    k = best[1]
    return (" ".join(words[:k]), " ".join(words[k:]))


def captions(
    words: Sequence[WordSpan],
    text: str | None = None,
    *,
    max_chars: int = MAX_CHARS,
    max_lines: int = MAX_LINES,
    max_ms: int = MAX_CAPTION_MS,
    min_ms: int = MIN_CAPTION_MS,
    pause_ms: int = PAUSE_MS,
) -> list[Caption]:
    """Group timed words into captions (see the module docstring for the rules)."""
    shown = punctuate(words, text)
    groups: list[list[int]] = []
    carry: list[int] = []  # words shown inside the next word's text: they go with it
    for i, w in enumerate(words):
        if not shown[i]:
            carry.append(i)
            continue
        first = words[carry[0]] if carry else w
        group = groups[-1] if groups else None
        if group is not None:
            last = group[-1]
            new = (
                _SENTENCE_END.search(shown[last]) is not None
                or first.t_ms - words[last].end_ms >= pause_ms
                or w.end_ms - words[group[0]].t_ms > max_ms
                or not _fits([shown[k] for k in [*group, i] if shown[k]], max_chars, max_lines)
            )
            if not new:
                group += [*carry, i]
                carry = []
                continue
        groups.append([*carry, i])
        carry = []
    out: list[Caption] = []
    for n, group in enumerate(groups):
        t_ms, end_ms = words[group[0]].t_ms, max(words[k].end_ms for k in group)
        next_t = words[groups[n + 1][0]].t_ms if n + 1 < len(groups) else None
        end_ms = max(end_ms, t_ms + min_ms if next_t is None else min(t_ms + min_ms, next_t))
        out.append(Caption(t_ms, max(end_ms, t_ms + 1), _lines([shown[k] for k in group if shown[k]], max_chars)))
    return out


def _timestamp(ms: int, sep: str) -> str:
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}{sep}{millis:03d}"


def write_srt(items: Sequence[Caption]) -> str:
    """SubRip: numbered cues, ``00:00:01,234 --> 00:00:02,000``, a blank line after each."""
    blocks = []
    for n, c in enumerate(items, start=1):
        lines = [line.replace("-->", "->") for line in c.lines]
        blocks.append(f"{n}\n{_timestamp(c.t_ms, ',')} --> {_timestamp(c.end_ms, ',')}\n" + "\n".join(lines) + "\n")
    return "\n".join(blocks)


def _vtt_escape(line: str) -> str:
    return line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def write_vtt(items: Sequence[Caption]) -> str:
    """WebVTT: the ``WEBVTT`` header, then ``00:00:01.234 --> 00:00:02.000`` cues (text escaped)."""
    blocks = ["WEBVTT\n"]
    for c in items:
        text = "\n".join(_vtt_escape(line) for line in c.lines)
        blocks.append(f"{_timestamp(c.t_ms, '.')} --> {_timestamp(c.end_ms, '.')}\n{text}\n")
    return "\n".join(blocks)


# -- Rhubarb -------------------------------------------------------------------------------


def mouth_cues(speech: Sequence[SpeechCue], visemes_map: Mapping[str, str], duration_ms: int) -> list[MouthCue]:
    """Our speech cues as Rhubarb shapes covering [0, ``duration_ms``]: gaps are ``X``, equal neighbours merge."""
    out: list[MouthCue] = []

    def add(t_ms: int, end_ms: int, shape: str) -> None:
        if end_ms <= t_ms:
            return
        if out and out[-1].shape == shape and out[-1].end_ms == t_ms:
            out[-1] = MouthCue(out[-1].t_ms, end_ms, shape)
        else:
            out.append(MouthCue(t_ms, end_ms, shape))

    t = 0
    for cue in speech:
        add(t, cue.t_ms, REST)
        add(cue.t_ms, cue.end_ms, shape_for_cue(cue.viseme, cue.phoneme, visemes_map))
        t = max(t, cue.end_ms)
    add(t, max(duration_ms, t), REST)
    return out


def _rhubarb_seconds(ms: int) -> str:
    """Seconds as Rhubarb writes them (two decimals), with a third when the millisecond needs it."""
    text = f"{ms // 1000}.{ms % 1000:03d}"
    return text[:-1] if text.endswith("0") else text


def write_rhubarb_json(cues: Sequence[MouthCue], duration_ms: int, sound_file: str = "") -> str:
    """Rhubarb's JSON layout: ``metadata`` (``soundFile``, ``duration``) and one ``mouthCues`` line per cue."""
    lines = [
        "{",
        '  "metadata": {',
        f'    "soundFile": {json.dumps(sound_file)},',
        f'    "duration": {_rhubarb_seconds(duration_ms)}',
        "  },",
        '  "mouthCues": [',
    ]
    for k, c in enumerate(cues):
        comma = "," if k + 1 < len(cues) else ""
        start, end = _rhubarb_seconds(c.t_ms), _rhubarb_seconds(c.end_ms)
        lines.append(f'    {{ "start": {start}, "end": {end}, "value": "{c.shape}" }}{comma}')
    lines += ["  ]", "}"]
    return "\n".join(lines) + "\n"


def write_rhubarb_tsv(cues: Sequence[MouthCue]) -> str:
    """Rhubarb's TSV: ``<start seconds>\\t<shape>`` per cue, ending with an ``X`` at the last non-rest end."""
    lines = [f"{_rhubarb_seconds(c.t_ms)}\t{c.shape}" for c in cues]
    if cues and cues[-1].shape != REST:
        lines.append(f"{_rhubarb_seconds(cues[-1].end_ms)}\t{REST}")
    return "".join(line + "\n" for line in lines)


# -- whole timelines -----------------------------------------------------------------------


@dataclass(frozen=True)
class Exported:
    text: str
    media_type: str
    extension: str


def format_for_path(path: str, fmt: str | None = None) -> str:
    """The export format named ``fmt``, else the one for ``path``'s extension; raises :class:`FormatError`."""
    if fmt is not None:
        if fmt not in FORMATS:
            raise FormatError(f"format: must be one of {', '.join(FORMATS)}, got {fmt[:40]!r}")
        return fmt
    lower = path.lower()
    for name, (ext, _) in FORMATS.items():
        if lower.endswith(ext.lower()):
            return name
    known = ", ".join(ext for ext, _ in FORMATS.values())
    raise FormatError(f"{path}: unknown caption or lip-sync extension (known: {known}; or pass --format)")


def _text(timeline: Timeline) -> str | None:
    text = timeline.meta.get("text") if timeline.meta else None
    return text if isinstance(text, str) else None


def export_timeline(timeline: Timeline, fmt: str, visemes_map: Mapping[str, str]) -> Exported:
    """``timeline`` in export format ``fmt`` (one of :data:`FORMATS`).

    Captions need a ``words`` track and Rhubarb a ``speech`` track (else
    :class:`NothingToExport`, a ``TimelineError``). Rhubarb's ``duration`` is the timeline's
    and ``soundFile`` its audio id. A TextGrid has tiers ``words`` and ``phones`` (the
    lip-sync's cues, labelled with the sound that chose each shape).
    """
    ext, media_type = FORMATS[format_for_path("", fmt)]
    if fmt in ("srt", "vtt"):
        if not timeline.words:
            raise NothingToExport("tracks.words: the timeline has no words to caption")
        items = captions(timeline.words, _text(timeline))
        text = write_srt(items) if fmt == "srt" else write_vtt(items)
    elif fmt in ("rhubarb_json", "rhubarb_tsv"):
        if not timeline.speech:
            raise NothingToExport("tracks.speech: the timeline has no lip-sync to export")
        cues = mouth_cues(timeline.speech, visemes_map, timeline.duration_ms)
        sound_file = timeline.audio.id if timeline.audio else ""
        text = write_rhubarb_json(cues, timeline.duration_ms, sound_file) if fmt == "rhubarb_json" else ""
        text = text or write_rhubarb_tsv(cues)
    else:
        if not timeline.words and not timeline.speech:
            raise NothingToExport("tracks: the timeline has no words or speech for a TextGrid")
        tiers = {
            "words": [Interval(w.t_ms, w.end_ms, w.text) for w in timeline.words],
            "phones": [Interval(c.t_ms, c.end_ms, c.phoneme or c.viseme) for c in timeline.speech],
        }
        text = write_textgrid(tiers, timeline.duration_ms)
    return Exported(text, media_type, ext)
