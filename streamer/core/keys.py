"""Frame key validation: keys are safe relative POSIX paths below a rig root (pure)."""

from __future__ import annotations

import re

from streamer.core.errors import InvalidKey

# One path segment: letters, digits, '_', '-', '.', not starting with a dot.
_SEGMENT = re.compile(r"[A-Za-z0-9_\-][A-Za-z0-9_.\-]{0,127}")
MAX_KEY_LENGTH = 512


def validate_key(key: object) -> str:
    """Return ``key`` if it is a safe frame key, else raise :class:`InvalidKey`.

    A safe key is a relative POSIX path of plain segments: no ``..``, no ``.``, no empty
    segment, no backslash, no leading ``/``, no characters outside ``[A-Za-z0-9_.-]``.
    """
    if not isinstance(key, str):
        raise InvalidKey(f"frame key must be a string, got {type(key).__name__}")
    if not key or len(key) > MAX_KEY_LENGTH:
        raise InvalidKey(f"frame key {key[:80]!r} is empty or too long")
    if "\\" in key:
        raise InvalidKey(f"frame key {key!r} contains a backslash")
    if key.startswith("/"):
        raise InvalidKey(f"frame key {key!r} is an absolute path")
    for segment in key.split("/"):
        if segment in ("", ".", ".."):
            raise InvalidKey(f"frame key {key!r} has an empty, '.' or '..' segment")
        if not _SEGMENT.fullmatch(segment):
            raise InvalidKey(f"frame key {key!r} has an unsupported character in {segment!r}")
    return key


def is_valid_key(key: object) -> bool:
    """Whether ``key`` passes :func:`validate_key`."""
    try:
        validate_key(key)
    except InvalidKey:
        return False
    return True
