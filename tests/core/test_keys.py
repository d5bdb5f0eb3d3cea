"""Frame key validation."""

from __future__ import annotations

import pytest

from streamer.core.errors import InvalidKey, StreamerError
from streamer.core.keys import MAX_KEY_LENGTH, is_valid_key, validate_key


def test_accepts_a_sequence_frame_key() -> None:
    key = "sequences/neutral_to_happy_soft__center/025.png"
    assert validate_key(key) == key
    assert is_valid_key(key)


@pytest.mark.parametrize("key", ["endpoints/neutral__center.png", "a", "a-b/c.d.png", "_x/0"])
def test_accepts_plain_relative_paths(key: str) -> None:
    assert validate_key(key) == key


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("../secret.png", "'..'"),
        ("sequences/../../etc/passwd", "'..'"),
        ("sequences/./025.png", "'.'"),
        (".", "'.'"),
        ("sequences//025.png", "empty"),
        ("sequences/", "empty"),
        ("sequences\\025.png", "backslash"),
        ("/etc/passwd", "absolute"),
        ("", "empty"),
        ("sequences/a b/025.png", "unsupported character"),
        ("sequences/x/025.png\n", "unsupported character"),
        ("sequences/x/025.png;rm", "unsupported character"),
        ("sequences/é/025.png", "unsupported character"),
        ("C:/frames/x.png", "unsupported character"),
        ("sequences/.hidden/025.png", "unsupported character"),
        ("a" * (MAX_KEY_LENGTH + 1), "too long"),
    ],
)
def test_rejects_unsafe_keys_naming_the_key(key: str, reason: str) -> None:
    with pytest.raises(InvalidKey) as exc_info:
        validate_key(key)
    message = str(exc_info.value)
    assert reason in message
    assert repr(key[:80]) in message or repr(key) in message
    assert not is_valid_key(key)


@pytest.mark.parametrize("key", [None, 25, b"endpoints/a.png", ["a"], object()])
def test_rejects_non_strings(key: object) -> None:
    with pytest.raises(InvalidKey, match="must be a string"):
        validate_key(key)
    assert not is_valid_key(key)


def test_invalid_key_is_a_value_error_and_a_streamer_error() -> None:
    with pytest.raises(ValueError):
        validate_key("..")
    with pytest.raises(StreamerError):
        validate_key("..")
