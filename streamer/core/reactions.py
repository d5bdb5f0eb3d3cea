"""Reactions: short head, eye and face moves layered over whatever a channel plays (pure).

A reaction is a few *steps* on its own clock: each step, from its ``at_ms``, overlays the
program's target states (a head pose, closed eyes, or another expression's upper face) and
the last step releases the overlay, so the face returns to what the program shows by then.
The mouth is never overlaid: speech goes on under a nod or a smile. Which poses a nod, a shake
or a look away uses is found by name in the rig (``down``/``up``/``left``/``right`` as a word
of a pose name, ``nod_down_small``), so any rig with such poses reacts.

:func:`overlay_targets` turns a plan of frame changes back into the targets it was routed
from (every endpoint frame is a target reached over the frames that lead to it), so the
channel can re-route them with the overlay on and splice the result into its plan.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from typing import Any

from streamer.core.errors import CommandError
from streamer.core.rig import Rig, State

REACTIONS = ("nod", "shake", "blink", "look_away", "expression")
DIRECTIONS = ("left", "right", "up", "down")
DEFAULT_HOLD_MS = 1000  # look_away and expression, when the command gives no duration_ms
MIN_HOLD_MS, MAX_HOLD_MS = 100, 10_000
FACE_MS, RELEASE_MS = 200, 250  # an expression comes in and goes back this fast
LOOK_MS = 250  # the head turns away (and back) this fast


@dataclass(frozen=True)
class Step:
    """From ``at_ms`` (after the reaction's start), overlay ``pose``, closed ``eyes`` or ``face``,
    reached over ``transition_ms``; a step with none of them releases the overlay."""

    at_ms: int
    transition_ms: int
    pose: str | None = None
    eyes: bool = False
    face: str | None = None


@dataclass(frozen=True)
class Reaction:
    """A named reaction as steps; the last step is the release."""

    kind: str
    steps: tuple[Step, ...]

    @property
    def duration_ms(self) -> int:
        """When the release starts (the face is back ``release_ms`` later)."""
        return self.steps[-1].at_ms

    @property
    def release_ms(self) -> int:
        return self.steps[-1].transition_ms


@dataclass(frozen=True)
class Placed:
    """A reaction on the server clock from ``start_ms``."""

    start_ms: int
    reaction: Reaction

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Placed:
        """Back from ``dataclasses.asdict`` form (a channel's snapshot)."""
        reaction = raw["reaction"]
        return cls(raw["start_ms"], Reaction(reaction["kind"], tuple(Step(**step) for step in reaction["steps"])))

    @property
    def release_ms(self) -> int:
        return self.start_ms + self.reaction.duration_ms

    @property
    def end_ms(self) -> int:
        return self.release_ms + self.reaction.release_ms

    def step_at(self, t_ms: int) -> Step | None:
        """The step in effect at ``t_ms`` (None before the start)."""
        times = [self.start_ms + s.at_ms for s in self.reaction.steps]
        i = bisect_right(times, t_ms) - 1
        return self.reaction.steps[i] if i >= 0 else None


def _pose(rig: Rig, word: str, kind: str) -> str:
    found = next((p for p in rig.poses if word in p.split("_")), None)
    if found is None:
        poses = ", ".join(rig.poses)
        raise CommandError(f"reaction {kind}: the rig has no pose with {word!r} in its name (poses: {poses})")
    return found


def make_reaction(
    kind: str, rig: Rig, *, expr: str | None = None, duration_ms: int | None = None, direction: str | None = None
) -> Reaction:
    """The reaction ``kind`` on ``rig`` (checked: poses and expressions it needs)."""
    hold = DEFAULT_HOLD_MS if duration_ms is None else duration_ms
    steps: tuple[Step, ...]
    if kind == "nod":
        down, up = _pose(rig, "down", kind), _pose(rig, "up", kind)
        steps = (Step(0, 150, pose=down), Step(220, 180, pose=up), Step(440, 160))
    elif kind == "shake":
        left, right = _pose(rig, "left", kind), _pose(rig, "right", kind)
        steps = (Step(0, 120, pose=left), Step(180, 160, pose=right), Step(380, 160, pose=left), Step(580, 140))
    elif kind == "look_away":
        steps = (Step(0, LOOK_MS, pose=_pose(rig, direction or "left", kind)), Step(hold, LOOK_MS))
    elif kind == "blink":
        blink = rig.config.blink
        steps = (Step(0, blink.close_ms, eyes=True), Step(blink.close_ms + blink.closed_ms, blink.open_ms))
    elif kind == "expression":
        if expr is None or expr not in rig.expressions:
            known = ", ".join(rig.expressions)
            raise CommandError(f"expr: reaction expression needs one of the rig's expressions ({known}), got {expr!r}")
        steps = (Step(0, FACE_MS, face=expr), Step(hold, RELEASE_MS))
    else:
        raise CommandError(f"reaction: unknown reaction {kind[:40]!r} ({', '.join(REACTIONS)})")
    return Reaction(kind, steps)


class Overlay:
    """Applies steps to target states on one rig: the mouth is the program's, the rest the step's."""

    def __init__(self, rig: Rig) -> None:
        self.rig = rig
        axes = rig.config.axes
        self.mouth_axis = "mouth" if "mouth" in axes else None
        self.eyes_axis = "eyes" if "eyes" in axes else None
        self.home_mouth = rig.axes_of(rig.home_expression).get("mouth")

    def apply(self, step: Step | None, state: State) -> State:
        if step is None:
            return state
        if step.pose is not None:
            return State(state.expr, step.pose)
        if step.eyes and self.eyes_axis is not None:
            axes = dict(self.rig.axes_of(state.expr))
            axes[self.eyes_axis] = self.rig.config.blink.eyes
            closed = self.rig.expression_with(axes)
            return state if closed is None else State(closed, state.pose)
        if step.face is not None:
            return State(self._face(step.face, state.expr), state.pose)
        return state

    def _face(self, face: str, expr: str) -> str:
        """``face`` itself where ``expr``'s mouth is closed (the home one: not speaking now), else
        ``face``'s upper face with ``expr``'s mouth, or ``expr`` when the rig has no such
        combination (speech wins)."""
        if self.mouth_axis is None:
            return face
        mouth = self.rig.axes_of(expr)[self.mouth_axis]
        if mouth == self.home_mouth:
            return face
        axes = dict(self.rig.axes_of(face))
        axes[self.mouth_axis] = mouth
        return self.rig.expression_with(axes) or expr


@dataclass(frozen=True)
class BaseTarget:
    """A target recovered from a plan: from ``t_ms`` head for ``state``, arriving ``transition_ms`` later."""

    t_ms: int
    state: State
    transition_ms: int


def plan_targets(rig: Rig, changes: list[tuple[int, str]]) -> list[BaseTarget]:
    """The targets a plan of frame changes was routed from: each endpoint frame, reached over
    the tween frames that lead to it (from the first of them)."""
    out: list[BaseTarget] = []
    run_start, frames = 0, 0
    for t, key in changes:
        if frames == 0:
            run_start = t
        frames += 1
        state = rig.state_of_key(key)
        if state is None:
            continue
        # Motion shows frame k of n at start + k * T // n: the endpoint (k = n - 1) at ``t``.
        shown_ms = t - run_start
        transition_ms = -(-shown_ms * frames // (frames - 1)) if frames > 1 else 0
        out.append(BaseTarget(run_start, state, transition_ms))
        frames = 0
    return out


def state_at(targets: list[BaseTarget], t_ms: int, fallback: State) -> State:
    """The state ``targets`` head for (or hold) at ``t_ms``."""
    i = bisect_right([b.t_ms for b in targets], t_ms) - 1
    return targets[i].state if i >= 0 else fallback


def overlay_targets(
    rig: Rig, base: list[BaseTarget], reactions: list[Placed], from_ms: int, until_ms: int, fallback: State
) -> list[BaseTarget]:
    """Targets from ``from_ms`` to ``until_ms``: ``base`` with every reaction's step in effect overlaid.

    Each step's start (and ``from_ms``) becomes a target of its own, the overlaid state of what
    the base holds then; base targets keep their times and transitions, overlaid.
    """
    overlay = Overlay(rig)

    def overlaid(t: int, state: State) -> State:
        for placed in reactions:
            state = overlay.apply(placed.step_at(t), state)
        return state

    points: list[tuple[int, int, State, int]] = []  # (t, order, state, transition_ms)
    for b in base:
        if from_ms <= b.t_ms < until_ms:
            points.append((b.t_ms, 0, overlaid(b.t_ms, b.state), b.transition_ms))
    starts = {from_ms: 0}
    for placed in reactions:
        for step in placed.reaction.steps:
            t = placed.start_ms + step.at_ms
            if from_ms <= t < until_ms:
                starts[t] = step.transition_ms
    for placed in reactions:  # already under way at from_ms: reach its step at that step's pace
        current = placed.step_at(from_ms)
        if current is not None:
            starts[from_ms] = max(starts[from_ms], current.transition_ms)
    for t, ms in starts.items():
        points.append((t, 1, overlaid(t, state_at(base, t, fallback)), ms))
    points.sort(key=lambda p: (p[0], p[1]))
    return [BaseTarget(t, state, ms) for t, _, state, ms in points]
