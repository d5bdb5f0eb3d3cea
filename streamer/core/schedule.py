"""The schedule: which frame shows from which millisecond, and exact sampling at any fps (pure)."""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from streamer.core.errors import TimelineError

Change = tuple[int, str]


def as_fps(fps: int | float | str | Fraction) -> Fraction:
    """``fps`` as an exact positive Fraction (``"30000/1001"`` and ``29.97`` both work)."""
    try:
        value = Fraction(fps)
    except (ValueError, ZeroDivisionError, TypeError) as exc:
        raise TimelineError(f"fps: not a number: {fps!r}") from exc
    if not 0 < value <= 240:
        raise TimelineError(f"fps: must be in (0, 240], got {fps}")
    return value


@dataclass(frozen=True)
class Schedule:
    """``duration_ms`` and the ordered ``(t_ms, frame_key)`` changes, starting at t=0.

    The frame shown at time ``t`` is the last change at or before ``t``. Several changes may
    share a time (a very fast transition); the last of them wins when sampling.
    """

    duration_ms: int
    changes: tuple[Change, ...]

    def __post_init__(self) -> None:
        if not self.changes or self.changes[0][0] != 0:
            raise ValueError("a schedule starts with a change at t=0")

    @property
    def times(self) -> list[int]:
        return [t for t, _ in self.changes]

    def key_at(self, t_ms: int) -> str:
        """The frame key on screen at ``t_ms`` (clamped to the schedule)."""
        i = bisect_right(self.changes, (t_ms, "\uffff")) - 1
        return self.changes[max(i, 0)][1]

    def frame_count(self, fps: int | Fraction) -> int:
        """Frames needed to cover ``[0, duration_ms)`` at ``fps``."""
        rate = as_fps(fps)
        return -((-self.duration_ms * rate.numerator) // (1000 * rate.denominator))

    def sample(self, fps: int | Fraction) -> list[str]:
        """The key of every frame index: frame ``i`` shows the change at or before ``i*1000/fps`` ms."""
        rate = as_fps(fps)
        num, den = 1000 * rate.denominator, rate.numerator
        out: list[str] = []
        j, changes, last = 0, self.changes, len(self.changes) - 1
        for i in range(self.frame_count(rate)):
            t_floor = (i * num) // den  # changes are integers: t <= i*num/den  <=>  t <= floor
            while j < last and changes[j + 1][0] <= t_floor:
                j += 1
            out.append(changes[j][1])
        return out

    def keys(self) -> list[str]:
        """Distinct keys in order of first appearance (the prefetch order)."""
        return list(dict.fromkeys(k for _, k in self.changes))

    def window(self, start_ms: int, end_ms: int) -> list[Change]:
        """Changes in ``[start_ms, end_ms)``, preceded by the change on screen at ``start_ms``."""
        i = max(bisect_right(self.changes, (start_ms, "\uffff")) - 1, 0)
        out = [(start_ms, self.changes[i][1])]
        for t, key in self.changes[i + 1 :]:
            if t >= end_ms:
                break
            out.append((t, key))
        return out

    def to_json(self, fps: int | Fraction | None = None) -> dict[str, Any]:
        doc: dict[str, Any] = {"duration_ms": self.duration_ms, "changes": [[t, k] for t, k in self.changes]}
        if fps is not None:
            rate = as_fps(fps)
            doc["fps"] = str(rate)
            doc["frames"] = self.sample(rate)
        return doc
