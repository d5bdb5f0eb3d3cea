"""Layer passes: combine emotion, speech, blink and pose tracks into target states (pure).

The emotion sets the base expression, speech overrides the mouth axis, a blink overrides the
eyes axis. Speech is taken a *phrase* at a time (cues separated by less than
``PHRASE_GAP_MS`` of silence), so the upper face (every axis but the mouth) holds still
through a phrase:

- when the rig has the emotion with every mouth the phrase uses, the emotion stays on the
  face and only the mouth moves;
- otherwise speech wins over emotion for the whole phrase: the phrase is spoken with the home
  (neutral) expression's upper face, and the emotion comes back after it;
- only a rig that has neither falls back to a choice per cue (speech wins where the emotion
  has no such mouth).

A viseme with the home expression's mouth (``neutral``: a closed mouth between sounds) and a
short silence inside a phrase show the chosen face's own mouth when the rig has no closed
variant of it (a smile between words stays a smile). A blink only happens where the rig has a
direct blink sequence from the current state. When several layers change at the same
millisecond, the transition time is that of the most significant one: pose, then emotion,
then speech, then blink.
"""

from __future__ import annotations

import random
from bisect import bisect_right
from dataclasses import dataclass

from streamer.core.rig import BlinkSettings, Rig, State
from streamer.core.routing import Router
from streamer.core.timeline import SpeechCue, Timeline

# Silences at least this long end a phrase. As long as the emotion planner's minimum spacing
# of changes (``emotions.MIN_GAP_MS``), so the upper face never changes faster than it would.
PHRASE_GAP_MS = 700


@dataclass(frozen=True)
class Phrase:
    """Speech from ``t_ms`` to ``end_ms`` with no silence of ``PHRASE_GAP_MS`` or more, and its visemes."""

    t_ms: int
    end_ms: int
    visemes: frozenset[str]


def phrases(speech: tuple[SpeechCue, ...], gap_ms: int = PHRASE_GAP_MS) -> list[Phrase]:
    """The phrases of a (sorted, non-overlapping) speech track."""
    out: list[Phrase] = []
    start, end, visemes = 0, -gap_ms, set[str]()
    for cue in speech:
        if cue.t_ms - end >= gap_ms:
            if visemes:
                out.append(Phrase(start, end, frozenset(visemes)))
            start, visemes = cue.t_ms, set()
        end = cue.end_ms
        visemes.add(cue.viseme)
    if visemes:
        out.append(Phrase(start, end, frozenset(visemes)))
    return out


@dataclass(frozen=True)
class Target:
    """From ``t_ms``, head for ``state`` and arrive ``transition_ms`` later."""

    t_ms: int
    state: State
    transition_ms: int


def idle_blinks(seed: int, duration_ms: int, settings: BlinkSettings) -> list[tuple[int, int]]:
    """Deterministic ``(close_ms, closed_for_ms)`` idle blinks over ``[0, duration_ms)``."""
    rng = random.Random(seed)
    closed_for = settings.close_ms + settings.closed_ms
    cycle = closed_for + settings.open_ms
    out: list[tuple[int, int]] = []
    t = rng.randint(settings.interval_min_ms // 2, settings.interval_max_ms // 2)
    while t + cycle < duration_ms:
        out.append((t, closed_for))
        if rng.random() < settings.double_chance and t + 2 * cycle + 60 < duration_ms:
            t += cycle + 60
            out.append((t, closed_for))
        # At least 1 ms: a rig may set every blink time to 0, which must not loop forever.
        t += max(1, cycle + rng.randint(settings.interval_min_ms, settings.interval_max_ms))
    return out


# Ranks order simultaneous points: releases before new onsets, more significant layers first.
_POSE, _EMOTION, _SPEECH_OFF, _SPEECH_ON, _BLINK_OFF, _BLINK_ON = range(6)


class Combiner:
    """Maps (emotion, viseme, blinking, pose, phrase) to a rig state, with memoisation."""

    def __init__(self, rig: Rig, router: Router) -> None:
        self.rig, self.router = rig, router
        axes = rig.config.axes
        self.mouth_axis = "mouth" if "mouth" in axes else None
        self.blink_eyes = rig.config.blink.eyes if "eyes" in axes else None
        self.home = rig.home_expression
        self._memo: dict[tuple[str, str | None, bool, str, frozenset[str] | None], State] = {}
        self._faces: dict[tuple[str, frozenset[str]], str | None] = {}

    def state(
        self, emotion: str, viseme: str | None, blinking: bool, pose: str, phrase: frozenset[str] | None = None
    ) -> State:
        """The state to show; ``phrase`` is the visemes of the phrase being spoken, if any."""
        memo_key = (emotion, viseme, blinking, pose, phrase)
        found = self._memo.get(memo_key)
        if found is None:
            found = self._memo[memo_key] = self._combine(emotion, viseme, blinking, pose, phrase)
        return found

    def _with_mouth(self, expr: str, viseme: str) -> str | None:
        """The expression with ``expr``'s upper face and ``viseme``'s mouth, or None."""
        assert self.mouth_axis is not None
        axes = dict(self.rig.axes_of(expr))
        axes[self.mouth_axis] = self.rig.axes_of(viseme)[self.mouth_axis]
        return self.rig.expression_with(axes)

    def _speaks(self, face: str, viseme: str) -> str | None:
        """``face`` speaking ``viseme``: the combination, or ``face`` itself for a closed
        (home) mouth the rig has no variant of; None when the rig cannot show it."""
        found = self._with_mouth(face, viseme)
        if found is None and self._with_mouth(self.home, viseme) == self.home:
            return face
        return found

    def face(self, emotion: str, phrase: frozenset[str]) -> str | None:
        """Whose upper face a phrase under ``emotion`` is spoken with: the emotion's when the rig
        has it with every mouth of the phrase, else the home expression's, else None."""
        key = (emotion, phrase)
        if key not in self._faces:
            candidates = (emotion, self.home)
            self._faces[key] = next(
                (c for c in candidates if all(self._speaks(c, v) is not None for v in phrase)), None
            )
        return self._faces[key]

    def _combine(
        self, emotion: str, viseme: str | None, blinking: bool, pose: str, phrase: frozenset[str] | None
    ) -> State:
        rig = self.rig
        expr = emotion
        if self.mouth_axis is None:
            expr = viseme or emotion
        elif phrase is not None:
            face = self.face(emotion, phrase)
            if face is not None:
                expr = face if viseme is None else (self._speaks(face, viseme) or face)
            elif viseme is not None:  # a rig too sparse for either face: speech wins cue by cue
                expr = self._with_mouth(emotion, viseme) or viseme
        if blinking and self.blink_eyes is not None:
            axes = dict(rig.axes_of(expr))
            axes["eyes"] = self.blink_eyes
            closed = rig.expression_with(axes)
            here = State(expr, pose)
            if closed is not None and any(e.dst == State(closed, pose) for e in self.router.neighbours(here)):
                expr = closed
        return State(expr, pose)


def blink_times(timeline: Timeline, rig: Rig) -> list[tuple[int, int]]:
    """``(close_ms, closed_for_ms)`` of every blink, explicit and idle, in time order."""
    blink = rig.config.blink
    blinks = [(b.t_ms, b.duration_ms or blink.close_ms + blink.closed_ms) for b in timeline.blinks]
    if timeline.idle_blink:
        blinks = sorted(blinks + idle_blinks(timeline.seed, timeline.duration_ms, blink))
    return blinks


def target_events(timeline: Timeline, rig: Rig, router: Router) -> list[Target]:
    """The timeline's layers combined into a time-ordered list of target states."""
    speech_ms = rig.config.speech_transition_ms
    blink = rig.config.blink
    points: list[tuple[int, int, int, str | None]] = []  # (t, rank, transition_ms, value)
    points += [(k.t_ms, _POSE, k.transition_ms, k.pose) for k in timeline.pose]
    points += [(k.t_ms, _EMOTION, k.transition_ms, k.expr) for k in timeline.emotion]
    for cue in timeline.speech:
        ms = speech_ms if cue.transition_ms is None else cue.transition_ms
        points.append((cue.t_ms, _SPEECH_ON, ms, cue.viseme))
        points.append((cue.end_ms, _SPEECH_OFF, speech_ms, None))
    free_from = 0
    for t, closed_for in blink_times(timeline, rig):
        if t >= free_from:  # overlapping blinks (explicit on top of idle) merge into the first
            points.append((t, _BLINK_ON, blink.close_ms, None))
            points.append((t + closed_for, _BLINK_OFF, blink.open_ms, None))
            free_from = t + closed_for + blink.open_ms
    points.sort(key=lambda p: (p[0], p[1]))
    spoken = phrases(timeline.speech)
    phrase_starts = [p.t_ms for p in spoken]

    combiner = Combiner(rig, router)
    emotion, pose = timeline.start.expr, timeline.start.pose
    viseme: str | None = None
    blinking = False
    current = timeline.start
    out: list[Target] = []
    i, n = 0, len(points)
    while i < n:
        t = points[i][0]
        cause_ms, cause_rank = 0, -1
        while i < n and points[i][0] == t:
            _, rank, ms, value = points[i]
            if rank == _POSE:
                pose = value or pose
            elif rank == _EMOTION:
                emotion = value or emotion
            elif rank == _SPEECH_ON:
                viseme = value
            elif rank == _SPEECH_OFF:
                viseme = None
            elif rank == _BLINK_ON:
                blinking = True
            else:
                blinking = False
            # A speech onset right at a release sets its own transition time.
            if cause_rank < 0 or (cause_rank == _SPEECH_OFF and rank == _SPEECH_ON):
                cause_ms, cause_rank = ms, rank
            i += 1
        k = bisect_right(phrase_starts, t) - 1
        phrase = spoken[k].visemes if k >= 0 and t < spoken[k].end_ms else None
        state = combiner.state(emotion, viseme, blinking, pose, phrase)
        if state != current:
            out.append(Target(t, state, cause_ms))
            current = state
    return out
