"""Strict JSON parsing for untrusted text (pure): every malformed input is a TimelineError.

:func:`json.loads` alone lets through, or fails on, inputs that later break a server that
stores, echoes or speaks them: NaN and Infinity, bytes that are not UTF-8, nesting deep
enough to exhaust the recursion limit, integers too long to convert, and lone surrogates
(``"\\ud800"``), which are valid JSON escapes but cannot be written as UTF-8.
"""

from __future__ import annotations

import json
import re

from streamer.core.errors import TimelineError

MAX_DEPTH = 64  # a timeline needs 4 levels; anything this deep is not a document of ours
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _reject_constant(name: str) -> float:
    raise TimelineError(f"invalid JSON number {name}")


def loads(text: str | bytes) -> object:
    """Parse JSON ``text``; raise :class:`TimelineError` naming the problem for any bad input."""
    if isinstance(text, bytes | bytearray):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise TimelineError(f"invalid JSON: not UTF-8 text (bad byte at offset {exc.start})") from None
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise TimelineError(f"invalid JSON: {exc}") from None
    except RecursionError:
        raise TimelineError(f"invalid JSON: nested too deeply (at most {MAX_DEPTH} levels)") from None
    except ValueError as exc:  # an integer beyond sys.get_int_max_str_digits()
        raise TimelineError(f"invalid JSON: {str(exc).partition(';')[0]}") from None
    _check(value, check_strings=_SURROGATE_ESCAPE.search(text) is not None)
    return value


def _check(value: object, *, check_strings: bool) -> None:
    """Reject nesting past MAX_DEPTH and (when the text had such escapes) lone surrogates."""
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: list[object] = [*item.keys(), *item.values()] if check_strings else list(item.values())
        elif isinstance(item, list):
            children = item
        else:
            if check_strings and isinstance(item, str):
                _check_text(item)
            continue
        if depth > MAX_DEPTH:
            raise TimelineError(f"invalid JSON: nested too deeply (at most {MAX_DEPTH} levels)")
        stack.extend((child, depth + 1) for child in children if check_strings or isinstance(child, dict | list))


def _check_text(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        code = ord(text[exc.start])
        raise TimelineError(f"invalid JSON: lone surrogate \\u{code:04x} in a string (not valid Unicode)") from None
