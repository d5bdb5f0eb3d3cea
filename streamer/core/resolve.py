"""Resolve a timeline against a rig into a schedule: a chain of small pure passes.

``check_against_rig`` (names exist) -> ``target_events`` (layers combined into targets) ->
``Motion`` (targets routed through the transition graph and timed) -> :class:`Schedule`.
"""

from __future__ import annotations

from streamer.core.layers import target_events
from streamer.core.motion import Motion
from streamer.core.rig import Rig
from streamer.core.routing import router_for
from streamer.core.schedule import Schedule
from streamer.core.timeline import Timeline, check_against_rig


def resolve(timeline: Timeline, rig: Rig) -> Schedule:
    """The frame schedule of ``timeline`` on ``rig``.

    Raises :class:`TimelineError` for names the rig lacks and :class:`UnreachableError` when a
    target cannot be reached through the rig's sequences.
    """
    check_against_rig(timeline, rig)
    router = router_for(rig)
    duration = timeline.duration_ms
    motion = Motion(router, rig.endpoint_key(timeline.start))
    for target in target_events(timeline, rig, router):
        motion.goto(target.t_ms, target.state, target.transition_ms)
    return Schedule(duration, tuple(motion.finish(duration)))
