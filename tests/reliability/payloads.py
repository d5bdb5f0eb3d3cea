"""Hostile JSON bodies for the fuzzer and ``benchmarks.abuse`` (no I/O, no hypothesis).

Three kinds: fixed nasties (deep nesting, 5000-digit integers, lone surrogates, invalid
UTF-8), byte mutations of a valid body, and a valid body with one value replaced by a weird
one. Everything is bytes as sent on the wire; :func:`encode` writes JSON with raw fragments
(text ``json.dumps`` refuses to produce, such as a 5000-digit integer) spliced in.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Any

TINY_TIMELINE: dict[str, Any] = {
    "version": 1,
    "start": {"expr": "neutral", "pose": "center"},
    "tracks": {
        "emotion": [{"t_ms": 0, "expr": "happy_soft", "transition_ms": 200}],
        "speech": [{"t_ms": 100, "end_ms": 250, "viseme": "speaking_ee", "phoneme": "EH1", "word": "hi"}],
        "pose": [{"t_ms": 300, "pose": "tilt_left_small", "transition_ms": 200}],
        "words": [{"t_ms": 100, "end_ms": 250, "text": "hi"}],
    },
    "idle": {"blink": True, "seed": 7},
    "duration_ms": 600,
}
FACE_RIG_TIMELINE: dict[str, Any] = {
    "keyframes": [
        {"time_ms": 0, "target_expr": "neutral", "target_pose": "center", "transition_duration_ms": 0},
        {"time_ms": 200, "target_expr": "happy_soft", "target_pose": "center", "transition_duration_ms": 100},
    ]
}
WORDS = [{"t_ms": 0, "end_ms": 300, "text": "hello"}, {"t_ms": 320, "end_ms": 700, "text": "there"}]


@dataclass(frozen=True)
class Target:
    """A JSON route and bodies it accepts (the seeds that mutations start from)."""

    method: str
    path: str
    valid: tuple[Any, ...]


# Every route that takes a JSON body, plus the two upload routes (JSON is the wrong body there:
# they must refuse it cleanly too). Channel and timeline names are the fuzzer's own.
TARGETS: dict[str, Target] = {
    "create_timeline": Target("POST", "/timelines", (TINY_TIMELINE, FACE_RIG_TIMELINE)),
    "validate_timeline": Target("POST", "/timelines/validate", (TINY_TIMELINE, FACE_RIG_TIMELINE)),
    "put_timeline": Target("PUT", "/timelines/fuzzed", (TINY_TIMELINE, FACE_RIG_TIMELINE)),
    "play": Target(
        "POST",
        "/channels/fuzz/play",
        ({"timeline_id": "hello"}, {"timeline": TINY_TIMELINE, "at_ms": 0}),
    ),
    "stop": Target("POST", "/channels/fuzz/stop", ({},)),
    "set": Target(
        "POST",
        "/channels/fuzz/set",
        ({"expr": "happy_soft", "pose": "center", "transition_ms": 300}, {"pose": "tilt_left_small"}),
    ),
    # An ElevenLabs request without its key is refused before any synthesis: mutations test the
    # parsing, not espeak-ng's speed. The plain one speaks (a word, off the loop).
    "speech": Target(
        "POST",
        "/speech",
        ({"text": "Hi.", "provider": "elevenlabs", "rate_wpm": 165}, {"text": "Hi.", "lipsync": "word"}),
    ),
    "emotions": Target("POST", "/emotions", ({"words": WORDS, "text": "hello there!", "provider": "rules"},)),
    "exports": Target(
        "POST",
        "/exports",
        ({"timeline": TINY_TIMELINE, "options": {"format": "webm", "size": [64, 96], "fps": 10}},),
    ),
    "align": Target("POST", "/align", ({"audio": "hello.ogg", "transcript": "hi"},)),
    "audio": Target("POST", "/audio", ({"audio": "hello.ogg"},)),
}

DEPTH = 100_000
NASTY_BODIES: tuple[bytes, ...] = (
    b"",
    b" ",
    b"{",
    b"[" * DEPTH,
    b"[" * DEPTH + b"]" * DEPTH,
    b'{"a":' * 20_000 + b"1" + b"}" * 20_000,
    b"1" * 5000,
    b"-" + b"9" * 4301,
    b'{"timeline_id": ' + b"7" * 5000 + b"}",
    b'"\\ud800"',
    b'{"text": "\\ud800", "expr": "\\udfff"}',
    b'{"expr": "\xff\xfe", "text": "\xc3\x28"}',
    b"\xef\xbb\xbf{}",
    b"\xed\xa0\x80",
    b"\xff" * 64,
    b"NaN",
    b'{"at_ms": Infinity, "transition_ms": NaN, "t_ms": -Infinity}',
    b'{"at_ms": 1e999999}',
    b'{"at_ms": ' + b"1" + b"0" * 30 + b', "timeline_id": "hello"}',
    b"null",
    b"[]",
    b"{}",
    b'{"a": 1, "a": 2}',
    b'{"\\u0000": "\\u0000"}',
    b"\x00" * 16,
)
# Raw JSON fragments that replace one value of a valid body.
WEIRD_VALUES: tuple[str, ...] = (
    "null",
    "true",
    "0",
    "-1",
    "-0",
    "1.5",
    "1e309",
    "NaN",
    "-Infinity",
    "1" + "0" * 30,
    "9" * 5000,
    "-" + "1" * 4400,
    '"\\ud800"',
    '"a\\udfffb\\ud800"',
    '"\\u0000"',
    '""',
    '"' + "x" * 70_000 + '"',
    '"../../etc/passwd"',
    '"%2e%2e/x"',
    "[" * 5000 + "]" * 5000,
    '{"a":' * 3000 + "1" + "}" * 3000,
    "[]",
    "{}",
    '{"type": "set"}',
    "[null, true, 1e5, {}]",
)
INVALID_UTF8: tuple[bytes, ...] = (b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xc0\xaf", b"\x80")


@dataclass(frozen=True)
class Raw:
    """JSON text to splice in as it is."""

    text: str


def encode(value: Any, ascii_only: bool = True) -> bytes:
    """``value`` as JSON bytes; :class:`Raw` parts go in verbatim, lone surrogates stay as they are.

    With ``ascii_only`` surrogates come out as ``\\ud800`` escapes; without it they are
    encoded raw (``surrogatepass``), which is invalid UTF-8.
    """
    raws: list[str] = []

    def swap(v: Any) -> Any:
        if isinstance(v, Raw):
            raws.append(v.text)
            return f"\x00RAW{len(raws) - 1}\x00"
        if isinstance(v, dict):
            return {k: swap(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [swap(x) for x in v]
        return v

    text = json.dumps(swap(value), ensure_ascii=ascii_only)
    for i, raw in enumerate(raws):
        text = text.replace(json.dumps(f"\x00RAW{i}\x00", ensure_ascii=ascii_only), raw, 1)
    return text.encode("utf-8", errors="surrogatepass")


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a JSON value (``()`` is the whole value)."""
    out = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            out += paths(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            out += paths(item, (*prefix, i))
    return out


def replace_at(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    """A copy of ``value`` with the item at ``path`` replaced by ``new``."""
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {k: replace_at(v, rest, new) if k == head else v for k, v in value.items()}
    return [replace_at(v, rest, new) if i == head else v for i, v in enumerate(value)]


def mutate_bytes(data: bytes, rng: random.Random, edits: int = 3) -> bytes:
    """``data`` with a few bytes flipped, inserted, deleted or duplicated."""
    out = bytearray(data)
    for _ in range(edits):
        pos = rng.randrange(len(out) + 1)
        op = rng.randrange(4)
        if op == 0 and pos < len(out):
            out[pos] ^= 1 << rng.randrange(8)
        elif op == 1:
            out[pos:pos] = rng.choice([rng.randbytes(rng.randint(1, 4)), rng.choice(INVALID_UTF8), b"\\ud800"])
        elif op == 2:
            del out[pos : pos + rng.randint(1, 8)]
        else:
            out[pos:pos] = out[pos : pos + rng.randint(1, 16)]
    return bytes(out)


def random_payload(target: Target, rng: random.Random) -> bytes:
    """One hostile body for ``target``, for load tools that do not shrink (the benchmark)."""
    kind = rng.randrange(4)
    if kind == 0:
        return rng.choice(NASTY_BODIES)
    valid = rng.choice(target.valid)
    if kind == 1:
        return mutate_bytes(encode(valid), rng, rng.randint(1, 6))
    if kind == 2:
        path = rng.choice(paths(valid))
        return encode(replace_at(valid, path, Raw(rng.choice(WEIRD_VALUES))))
    return rng.randbytes(rng.randint(0, 256))
