"""Captions and lip-sync files from a v1 timeline: SRT, WebVTT, Rhubarb cues and TextGrids (pure).

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

import difflib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from streamer.core.timeline import SpeechCue, Timeline, WordSpan
from streamer.speech.errors import FormatError, NothingToExport
from streamer.speech.formats.textgrid import Interval, write_textgrid
from streamer.speech.lipsync.rhubarb import REST, MouthCue, shape_for_cue
from streamer.speech.timing import TOKEN

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


# -- captions ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Caption:
    t_ms: int
    end_ms: int
    lines: tuple[str, ...]


def punctuate(words: Sequence[WordSpan], text: str | None) -> list[str]:
    """Each word as written in ``text``, with the punctuation around it ("hello" -> "Hello!").

    The words and the text are split into tokens once (:data:`~streamer.speech.timing.TOKEN`)
    and matched in order, case-insensitively (:func:`_matched_spans`). Transcript text that no
    word matched (a word the speech engine merged, "42" read as "forty two") joins the next
    word found, and the unmatched words in between show nothing, so captions read as the
    transcript. Without ``text``, or when nothing matches, words keep their own text.
    """
    out = [w.text.strip() for w in words]
    if not text:
        return out
    cursor, pending = 0, []  # pending: words not found since the last one that was
    for i, span in enumerate(_matched_spans(out, text)):
        if span is None:
            pending.append(i)
            continue
        start, end = max(span[0], cursor), span[1]
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


def _fold(token: str) -> str:
    return token.lower().replace("’", "'")


def _matched_spans(words: Sequence[str], text: str) -> list[tuple[int, int] | None]:
    """For each word, the span of ``text`` its matched tokens cover, or ``None`` when none matched.

    One diff of the two token sequences: the common start and end are matched directly, the
    rest by :class:`difflib.SequenceMatcher` with its junk heuristic on. Past 200 tokens, a
    token that makes up over 1% of the text only extends a match and never starts one:
    without that a repetitive text (a chorus, "la la la") costs cubic time, which a public
    GET cannot afford (with it, a 20,000-word text takes well under a second). The price: in
    a long text, a stretch of only common words between two differences stays unmatched,
    and so joins the next word found.
    """
    owners: list[int] = []  # word token -> its word
    word_tokens: list[str] = []
    for i, word in enumerate(words):
        for m in TOKEN.finditer(word):
            owners.append(i)
            word_tokens.append(_fold(m.group()))
    found = list(TOKEN.finditer(text))
    text_tokens = [_fold(m.group()) for m in found]
    pairs: list[tuple[int, int]] = []
    head = 0
    while head < min(len(word_tokens), len(text_tokens)) and word_tokens[head] == text_tokens[head]:
        pairs.append((head, head))
        head += 1
    tail = 0
    while tail < min(len(word_tokens), len(text_tokens)) - head and word_tokens[-1 - tail] == text_tokens[-1 - tail]:
        tail += 1
    a, b = word_tokens[head : len(word_tokens) - tail], text_tokens[head : len(text_tokens) - tail]
    for block in difflib.SequenceMatcher(None, a, b, autojunk=True).get_matching_blocks():
        pairs += [(head + block.a + k, head + block.b + k) for k in range(block.size)]
    pairs += [(len(word_tokens) - tail + k, len(text_tokens) - tail + k) for k in range(tail)]
    spans: list[tuple[int, int] | None] = [None] * len(words)
    for w, t in pairs:
        owner, (start, end) = owners[w], found[t].span()
        held = spans[owner]
        spans[owner] = (start, end) if held is None else (held[0], end)
    return spans


def _is_punct(char: str) -> bool:
    """Punctuation that belongs to the word next to it (not spaces, letters, digits or hyphens)."""
    return not (char.isspace() or char.isalnum() or char in "-_")


def _wrap(words: Sequence[str], width: int, from_end: bool = False) -> list[list[str]]:
    """Greedy lines of at most ``width`` characters (a longer word gets a line of its own).

    Greedy needs the fewest lines. ``from_end`` fills the bottom line first, so that any
    slack goes to the top lines.
    """
    lines: list[list[str]] = []
    length = 0
    for w in reversed(words) if from_end else words:
        if lines and length + 1 + len(w) <= width:
            lines[-1].append(w)
            length += 1 + len(w)
        else:
            lines.append([w])
            length = len(w)
    if from_end:
        return [line[::-1] for line in reversed(lines)]
    return lines


def _fits(words: Sequence[str], max_chars: int, max_lines: int) -> bool:
    """Whether ``words`` wrap into ``max_lines`` lines of ``max_chars``."""
    return len(_wrap(words, max_chars)) <= max_lines


def _lines(words: Sequence[str], max_chars: int, max_lines: int) -> tuple[str, ...]:
    """The fewest lines of at most ``max_chars`` (and ``max_lines``), balanced.

    Balanced: the longest line is as short as it can be in that many lines, and any slack
    goes to the top lines (two lines split where the longer one is shortest, the top line
    taking the shorter part on a tie). A word longer than ``max_chars`` gets a line of its own.
    """
    if len(words) < 2:
        return (" ".join(words),)
    count = min(len(_wrap(words, max_chars)), max_lines)
    width = max(len(w) for w in words)
    while len(_wrap(words, width, from_end=True)) > count:
        width += 1
    return tuple(" ".join(line) for line in _wrap(words, width, from_end=True))


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
        shown_words = [shown[k] for k in group if shown[k]]
        out.append(Caption(t_ms, max(end_ms, t_ms + 1), _lines(shown_words, max_chars, max_lines)))
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
