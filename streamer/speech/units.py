"""Time units: seconds and sample counts as integer milliseconds (pure, no I/O).

Every file format and service gives times its own way; these are the one place they become
our integer milliseconds, so the checks and the rounding are the same everywhere.
"""

from __future__ import annotations

import math
from collections.abc import Callable


def seconds_to_ms(value: object, field: str, error: Callable[[str], Exception], max_s: float = math.inf) -> int:
    """``value`` (seconds) rounded to whole milliseconds.

    Raises ``error(message)``, the message naming ``field``, unless ``value`` is a number (not
    a bool) in ``[0, max_s]``. ``error`` is the caller's exception class (or a function that
    builds one), so each format and service reports its own kind of error.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise error(f"{field}: must be a number of seconds, got {str(value)[:20]!r}")
    if not math.isfinite(value) or not 0 <= value <= max_s:
        bound = f"in [0, {max_s:g}]" if math.isfinite(max_s) else ">= 0"
        raise error(f"{field}: {value!r} is out of range (seconds {bound})")
    return round(value * 1000)


def samples_to_ms(n_samples: int, sample_rate: int) -> int:
    """How long ``n_samples`` last at ``sample_rate``, in whole milliseconds rounded up.

    Rounded up so that a duration always covers its last sample (a word or phoneme that ends
    on it never runs past the end).
    """
    return -(-n_samples * 1000 // sample_rate)
