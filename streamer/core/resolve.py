"""Resolve a timeline against a rig into a schedule: a chain of small pure passes.

``check_against_rig`` (names exist) -> ``target_events`` (layers combined into targets) ->
``Motion`` (targets routed through the transition graph and timed) -> :class:`Schedule`.
A timeline with a ``frames`` track (a recording of what a channel aired) is its own schedule.
"""

from __future__ import annotations

from streamer.core.layers import target_events
from streamer.core.motion import Motion
from streamer.core.rig import Rig
from streamer.core.routing import router_for
from streamer.core.schedule import Schedule
from streamer.core.timeline import Timeline, check_against_rig

# How long a schedule extended for its last transition shows the final state: more than one
# frame at the lowest export rate (12 fps), so a video's last frame is always that state.
FINAL_HOLD_MS = 100


def resolve(timeline: Timeline, rig: Rig) -> Schedule:
    """The frame schedule of ``timeline`` on ``rig``.

    The schedule lasts ``timeline.duration_ms``, or longer when the last transition would be
    cut or its final frame would show for less than ``FINAL_HOLD_MS``: it always ends on the
    endpoint frame of the timeline's last targets.

    Raises :class:`TimelineError` for names the rig lacks and :class:`UnreachableError` when a
    target cannot be reached through the rig's sequences.
    """
    check_against_rig(timeline, rig)
    if timeline.frames:  # recorded frames: the schedule as it aired
        return Schedule(timeline.duration_ms, tuple((f.t_ms, f.key) for f in timeline.frames))
    router = router_for(rig)
    duration = timeline.duration_ms
    motion = Motion(router, rig.endpoint_key(timeline.start))
    for target in target_events(timeline, rig, router):
        motion.goto(target.t_ms, target.state, target.transition_ms)
    # The final state is the last targets reached in full: a transition that duration_ms would
    # cut short runs to its end, and the schedule is that much longer (docs/timelines.md).
    duration = max(duration, motion.settled_ms(FINAL_HOLD_MS))
    return Schedule(duration, tuple(motion.finish(duration)))
