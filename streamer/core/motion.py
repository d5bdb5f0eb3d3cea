"""Motion: turns targets arriving over time into timed frame changes (pure, sans-I/O).

A transition's duration is spread evenly over the frames of its route: each of the route's N
frames shows for ``transition_ms / N``, the first one at once. A target that arrives while a
route is still playing re-routes from the frame on screen; frames planned for later are dropped.
A head move in progress keeps its pace when only the face changes (a viseme during a nod does
not rush the nod): the frames the new route shares with the plan keep their planned times, and
the face change is spread over its own ``transition_ms`` from where the two routes part. The
resolver and the live channels both drive this same object.
"""

from __future__ import annotations

from streamer.core.rig import State
from streamer.core.routing import Router

Planned = tuple[int, str, bool]  # (t_ms, frame_key, heading reversed)


class Motion:
    """Frame changes committed so far, plus the route still planned ahead."""

    def __init__(self, router: Router, start_key: str, t_ms: int = 0) -> None:
        self.router = router
        self.changes: list[tuple[int, str]] = [(t_ms, start_key)]
        self._planned: list[Planned] = []
        self._heading = False
        self.target: State | None = router.rig.state_of_key(start_key)
        self._moves_pose = False
        self._arrive_ms = t_ms

    @property
    def planned(self) -> list[tuple[int, str]]:
        """Changes planned after the last committed one (may be replaced by a later target)."""
        return [(t, k) for t, k, _ in self._planned]

    def _commit_before(self, t_ms: int) -> None:
        planned, changes = self._planned, self.changes
        i = 0
        for i, (t, key, heading) in enumerate(planned):  # noqa: B007
            if t >= t_ms:
                break
            changes.append((t, key))
            self._heading = heading
        else:
            i = len(planned)
        if i:
            del planned[:i]

    def goto(self, t_ms: int, state: State, transition_ms: int) -> None:
        """From ``t_ms``, route from the frame on screen to ``state`` over ``transition_ms``."""
        self._commit_before(t_ms)
        if state == self.target:
            return
        leg = self.router.leg_from_key(self.changes[-1][1], state, self._heading)
        kept: list[Planned] = []
        start_ms = t_ms
        if self._moves_pose and self.target is not None and self.target.pose == state.pose:
            old = self._planned
            for (t, key, rev), new_key in zip(old, leg.keys, strict=False):
                if key != new_key:
                    break
                kept.append((t, key, rev))
            if kept:
                start_ms = old[len(kept)][0] if len(kept) < len(old) else self._arrive_ms
        rest = list(zip(leg.keys[len(kept) :], leg.heading_reversed[len(kept) :], strict=True))
        n = len(rest)
        self._planned = kept + [(start_ms + (k * transition_ms) // n, key, rev) for k, (key, rev) in enumerate(rest)]
        self.target = state
        self._moves_pose = leg.moves_pose
        self._arrive_ms = start_ms + transition_ms if rest else start_ms

    def settled_ms(self, hold_ms: int) -> int:
        """When the last target is reached in full: its transition has run its whole time and
        its endpoint frame has been on screen for at least ``hold_ms``."""
        if not self._planned and len(self.changes) == 1:
            return self._arrive_ms  # nothing changed: the first frame already shows the final state
        last_change = self._planned[-1][0] if self._planned else self.changes[-1][0]
        return max(self._arrive_ms, last_change + hold_ms)

    def finish(self, end_ms: int) -> list[tuple[int, str]]:
        """Commit every planned change before ``end_ms`` and return all changes."""
        self._commit_before(end_ms)
        return self.changes
