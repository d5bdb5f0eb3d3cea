"""Cut text that arrives in pieces (an LLM's tokens) into speakable segments (pure, no I/O).

Each segment is synthesized on its own, so the cut decides both latency and prosody: cut too
early and the voice resets its intonation mid-phrase; too late and the first word waits for a
whole paragraph. The rules, in order:

1. a sentence end (``.!?…`` and their CJK forms) followed by a space or a line break, or a line
   break itself, cuts, except after a few abbreviations ("Dr.", "e.g.") and initials, and except
   a one-word first sentence ("Wow!"), which joins what follows;
2. a clause end (``,;:`` and dashes) cuts once the segment has ``first_clause_words`` words for the
   first segment of an utterance, ``clause_words`` after that; and the first segment is cut after
   ``first_words`` words even without one, so the mouth starts soon (the cost: one early break in
   the phrasing), later (up to ``first_lean_words`` more) while its last word leans on the next (an
   article, preposition, conjunction, auxiliary or subject pronoun: "So, the | answer" would break
   the phrase where no speaker pauses). A one-word first clause ("Well,") is not cut: it would play
   out (in about 400 ms) before the next segment could be synthesized on a busy machine; unless
   the caller's clock says the next one will be ready in time (``lone_first_clause``, set by the
   speaker from measured placing times), when it is cut alone, the quickest start of all;
3. a segment never grows past ``max_chars``: it is cut at its last space;
4. when the text stops arriving for ``wait_ms`` (the LLM stalled), the complete words so far are
   spoken (:meth:`Segmenter.due`); the unfinished last word waits for the rest;
5. when the caller's audio is about to run out (its clock), :meth:`Segmenter.runway` cuts the
   complete words so far, up to the last that does not lean on the next one: a break inside a
   clause is better than a silence in it.

Times are whatever clock the caller uses, in milliseconds; nothing here reads one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SENTENCE_ENDS = ".!?…。！？"
CLAUSE_ENDS = ",;:—–、，；："
CLOSERS = "\"'”’)]»"  # may follow a sentence end before the space: 'He said "no." Then'
ABBREVIATIONS = frozenset(
    "mr mrs ms dr prof st sr jr vs etc e.g i.e approx no fig sra sr dra mme mlle hr fr bzw usw z.b".split()  # noqa: SIM905
)
CJK_ENDS = "。！？、，；："  # these need no space after them
_WORD = re.compile(r"\S+")
# English words that lean on the next one: the first segment does not end on them (rule 2).
_LEANING = (
    "a an the to of in on at for with by from into and or but nor that this these those my your his her its our "
    "their is are was were be been am do does did have has had will would can could shall should may might must "
    "i you he she we they it there"
)
LEANING_WORDS = frozenset(_LEANING.split())
# "[happy] Nice to see you": an inline emotion tag, for the face; it is not spoken.
EMOTION_TAG = re.compile(r"\[([A-Za-z_]{1,32})\]")


@dataclass
class Segmenter:
    """Feed text as it arrives; take segments as they become speakable."""

    first_clause_words: int = 3
    first_words: int = 2
    first_lean_words: int = 2
    clause_words: int = 8
    max_chars: int = 200
    wait_ms: int = 350
    lone_first_clause: bool = False
    _buffer: str = ""
    _last_ms: int | None = None
    _emitted: int = 0

    def feed(self, text: str, now_ms: int) -> list[str]:
        """Add ``text``; return the segments it completes."""
        self._buffer += text
        if text:
            self._last_ms = now_ms
        return self._cut(final=False)

    def due(self, now_ms: int) -> list[str]:
        """The complete words so far when nothing has arrived for ``wait_ms`` (else nothing)."""
        if self._last_ms is None or now_ms - self._last_ms < self.wait_ms:
            return []
        end = _last_space(self._buffer)
        if end <= 0:
            return []
        return self._take(end)

    def runway(self) -> list[str]:
        """The complete words so far, now (rule 5), up to the last one that does not lean on the
        next; nothing while every complete word leans ("and the" waits for its noun)."""
        end = _last_space(self._buffer)
        for word in reversed(list(_WORD.finditer(self._buffer[: max(end, 0)]))):
            if _bare(word.group()) not in LEANING_WORDS:
                return self._take(word.end())
        return []

    def finish(self) -> list[str]:
        """Everything left, at the end of the utterance; the segmenter is then ready for the next."""
        out = self._cut(final=True)
        rest = self._buffer.strip()
        self._buffer, self._last_ms, self._emitted = "", None, 0
        return [*out, rest] if rest else out

    @property
    def pending(self) -> str:
        """Text received but not yet cut into a segment."""
        return self._buffer

    def next_due_ms(self) -> int | None:
        """When :meth:`due` would next cut, if text is waiting; for the caller's timer."""
        if self._last_ms is None or _last_space(self._buffer) <= 0:
            return None
        return self._last_ms + self.wait_ms

    def _cut(self, final: bool) -> list[str]:
        out: list[str] = []
        while True:
            end = self._next_cut(final)
            if end is None:
                return out
            out += self._take(end)

    def _take(self, end: int) -> list[str]:
        piece, self._buffer = self._buffer[:end].strip(), self._buffer[end:]
        if not piece:
            return []
        self._emitted += 1
        return [piece]

    def _next_cut(self, final: bool) -> int | None:
        """Where the buffer's first segment ends (an index into it), or None to wait for more."""
        text = self._buffer
        need = self.first_clause_words if self._emitted == 0 else self.clause_words
        for i, ch in enumerate(text):
            after = text[i + 1 : i + 2]
            at_end = i + 1 == len(text)
            if ch == "\n":
                if text[:i].strip():
                    return i + 1
                continue
            if ch.isspace() and self._emitted == 0 and self._first_segment_ends(text[:i]):
                return i + 1
            if i + 1 > self.max_chars:
                space = _last_space(text[: i + 1])
                return space if space > 0 else i + 1
            if ch in SENTENCE_ENDS:
                j = i + 1
                while j < len(text) and text[j] in CLOSERS:
                    j += 1
                if ch in CJK_ENDS or (j < len(text) and text[j].isspace()):
                    # A one-word first sentence ("Wow!") joins what follows: alone it would play
                    # out before the next segment could be synthesized.
                    alone = self._emitted == 0 and len(_WORD.findall(text[:i])) < 2 and ch not in CJK_ENDS
                    alone = alone and not self.lone_first_clause
                    if not alone and (ch != "." or not _abbreviation(text[: i + 1])):
                        return j
                elif at_end or j == len(text):
                    if final:
                        return j
                    return None  # "3." may be "3.14": wait for the next character
            elif ch in CLAUSE_ENDS and (ch in CJK_ENDS or after.isspace()):
                words = len(_WORD.findall(text[:i]))
                if words >= need or (self._emitted == 0 and self.lone_first_clause and words >= 1):
                    return i + 1
        return None

    def _first_segment_ends(self, text: str) -> bool:
        """Whether the first segment may end after ``text`` (rule 2: enough words, not a leaning one)."""
        words = _spoken_words(text)
        if len(words) >= self.first_words + self.first_lean_words:
            return True
        return len(words) >= self.first_words and _bare(words[-1]) not in LEANING_WORDS


def _bare(word: str) -> str:
    """``word`` as the leaning list has it: lower case, without quotes or brackets ("the," does not lean)."""
    return word.strip("\"'“”‘’«»()").lower()


def _spoken_words(text: str) -> list[str]:
    """The words of ``text`` that are said (an inline emotion tag is not)."""
    return [w for w in _WORD.findall(text) if not EMOTION_TAG.fullmatch(w)]


def _last_space(text: str) -> int:
    """The index just past the last whitespace of ``text`` that follows a word (0 if none)."""
    stripped = text.rstrip()
    if len(stripped) < len(text) and stripped:
        return len(text)
    i = max(stripped.rfind(" "), stripped.rfind("\n"), stripped.rfind("\t"))
    return i + 1 if i > 0 else 0


def _abbreviation(upto_dot: str) -> bool:
    """Whether the word ending in this full stop is an abbreviation or an initial ("J.")."""
    word = upto_dot.rsplit(None, 1)[-1].rstrip(".").lstrip("\"'(«“").lower()
    return word in ABBREVIATIONS or (len(word) == 1 and word.isalpha())


_MARKDOWN = [
    (re.compile(r"```.*?```", re.S), " "),  # code blocks are not spoken
    (re.compile(r"`([^`]*)`"), r"\1"),
    (re.compile(r"!\[([^\]]*)\]\([^)]*\)"), r"\1"),  # images: their alt text
    (re.compile(r"\[([^\]]*)\]\([^)]*\)"), r"\1"),  # links: their text
    (re.compile(r"https?://\S+"), ""),
    (re.compile(r"(\*\*|__|~~)(.+?)\1"), r"\2"),
    (re.compile(r"(?<!\w)[*_](\S(?:.*?\S)?)[*_](?!\w)"), r"\1"),
    (re.compile(r"^\s{0,3}(#{1,6}|>|[-*+]|\d+[.)])\s+", re.M), ""),  # headings, quotes, list marks
]


def speakable(text: str) -> str:
    """``text`` without the Markdown an LLM writes (marks, links, code), as a voice should read it."""
    for pattern, replacement in _MARKDOWN:
        text = pattern.sub(replacement, text)
    return text
