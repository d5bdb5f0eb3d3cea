"""Transition routing: shortest routes, tie-breaks, pose moves, rerouting from tween frames."""

from __future__ import annotations

import pytest

from streamer.core.errors import UnreachableError
from streamer.core.rig import Rig, State
from streamer.core.routing import Router, router_for
from tests.rigs import make_rig, tiny_config

CENTER = "center"


def _ids(router: Router, src: State, dst: State) -> list[tuple[str, bool]]:
    return [(e.sequence.id, e.reversed) for e in router.route(src, dst)]


@pytest.fixture(scope="module")
def face_rig() -> Rig:
    return make_rig()


@pytest.fixture(scope="module")
def router(face_rig: Rig) -> Router:
    return Router(face_rig)


def test_route_to_the_same_state_is_empty(router: Router) -> None:
    state = State("happy_soft", CENTER)
    assert router.route(state, state) == ()
    assert router.leg(state, state).keys == ()


def test_shortest_route_goes_through_the_fewest_frames(router: Router) -> None:
    # happy_big is only reachable through happy_soft.
    assert _ids(router, State("neutral", CENTER), State("happy_big", CENTER)) == [
        ("neutral_to_happy_soft__center", False),
        ("happy_soft_to_happy_big__center", False),
    ]
    # A direct viseme-to-viseme sequence beats going back through neutral.
    assert _ids(router, State("speaking_ee", CENTER), State("oh_round", CENTER)) == [
        ("speaking_ee_to_oh_round__center", False)
    ]


def test_leg_lists_every_frame_then_the_destination_endpoint(router: Router) -> None:
    leg = router.leg(State("neutral", CENTER), State("happy_soft", CENTER))
    assert leg.keys == (
        "sequences/neutral_to_happy_soft__center/025.png",
        "sequences/neutral_to_happy_soft__center/050.png",
        "sequences/neutral_to_happy_soft__center/075.png",
        "endpoints/happy_soft__center.png",
    )
    assert not leg.moves_pose
    assert leg.heading_reversed == (False,) * 4


def test_sequences_play_backwards(router: Router) -> None:
    leg = router.leg(State("happy_big", CENTER), State("neutral", CENTER))
    assert _ids(router, State("happy_big", CENTER), State("neutral", CENTER)) == [
        ("happy_soft_to_happy_big__center", True),
        ("neutral_to_happy_soft__center", True),
    ]
    assert leg.keys[:4] == (
        "sequences/happy_soft_to_happy_big__center/075.png",
        "sequences/happy_soft_to_happy_big__center/050.png",
        "sequences/happy_soft_to_happy_big__center/025.png",
        "endpoints/happy_soft__center.png",
    )
    assert leg.keys[-1] == "endpoints/neutral__center.png"
    assert leg.heading_reversed == (True,) * 8


def test_tie_break_prefers_forward_playback(router: Router) -> None:
    # speaking_ah -> speaking_ee exists both as a forward sequence and as the reverse of
    # speaking_ee_to_speaking_ah, with the same number of frames.
    assert _ids(router, State("speaking_ah", CENTER), State("speaking_ee", CENTER)) == [
        ("speaking_ah_to_speaking_ee__center", False)
    ]
    assert _ids(router, State("speaking_ee", CENTER), State("speaking_ah", CENTER)) == [
        ("speaking_ee_to_speaking_ah__center", False)
    ]


def test_tie_break_is_stable_across_routers(face_rig: Rig) -> None:
    states = sorted(face_rig.endpoints)
    first, second = Router(face_rig), Router(face_rig)
    src = State("concerned", "nod_up_small")
    for dst in states:
        assert first.leg(src, dst).keys == second.leg(src, dst).keys


def test_head_moves_go_back_to_neutral_first(router: Router) -> None:
    # The rig only has neutral pose sequences, so happy@center -> happy@tilt relaxes, moves, smiles.
    assert _ids(router, State("happy_soft", CENTER), State("happy_soft", "tilt_left_small")) == [
        ("neutral_to_happy_soft__center", True),
        ("neutral_center_to_neutral_tilt_left_small", False),
        ("neutral_to_happy_soft__tilt_left_small", False),
    ]
    assert router.leg(State("happy_soft", CENTER), State("happy_soft", "tilt_left_small")).moves_pose


def test_tilt_left_to_tilt_right_goes_via_center(router: Router) -> None:
    assert _ids(router, State("neutral", "tilt_left_small"), State("neutral", "tilt_right_small")) == [
        ("neutral_center_to_neutral_tilt_left_small", True),
        ("neutral_center_to_neutral_tilt_right_small", False),
    ]
    leg = router.leg(State("neutral", "tilt_left_small"), State("neutral", "tilt_right_small"))
    assert "endpoints/neutral__center.png" in leg.keys


def test_unreachable_target_raises_a_clear_error() -> None:
    config = tiny_config()
    config["base_paths"] = [bp for bp in config["base_paths"] if bp["end"] != "talk"]
    router = Router(make_rig(config))
    with pytest.raises(UnreachableError, match=r"^no sequence route from neutral@front to talk@side$"):
        router.route(State("neutral", "front"), State("talk", "side"))
    with pytest.raises(UnreachableError, match="unknown state nobody@front"):
        router.route(State("neutral", "front"), State("nobody", "front"))


def test_unreachable_target_fails_resolve() -> None:
    from streamer.core.resolve import resolve
    from streamer.core.timeline import parse_timeline

    config = tiny_config()
    config["base_paths"] = [bp for bp in config["base_paths"] if bp["end"] != "talk"]
    rig = make_rig(config)
    start = {"expr": "neutral", "pose": "front"}
    timeline = parse_timeline({"version": 1, "start": start, "tracks": {"emotion": [{"t_ms": 0, "expr": "talk"}]}})
    with pytest.raises(UnreachableError, match="to talk@front"):
        resolve(timeline, rig)


def test_routes_and_routers_are_cached(face_rig: Rig) -> None:
    assert router_for(face_rig) is router_for(face_rig)
    router = router_for(face_rig)
    src, dst = State("neutral", CENTER), State("happy_big", "nod_down_small")
    assert router.route(src, dst) is router.route(src, dst)
    assert router.leg(src, dst) is router.leg(src, dst)
    assert router_for(make_rig()) is not router  # one router per rig object


def test_reroute_from_a_tween_frame_takes_the_shorter_direction(router: Router) -> None:
    # On screen: the first tween of neutral -> happy_soft. Back to neutral is one frame away.
    key = "sequences/neutral_to_happy_soft__center/025.png"
    leg = router.leg_from_key(key, State("neutral", CENTER))
    assert leg.keys == ("endpoints/neutral__center.png",)
    assert leg.heading_reversed == (True,)
    # Towards happy_big the sequence is finished first, then continued.
    leg = router.leg_from_key(key, State("happy_big", CENTER))
    assert leg.keys[:3] == (
        "sequences/neutral_to_happy_soft__center/050.png",
        "sequences/neutral_to_happy_soft__center/075.png",
        "endpoints/happy_soft__center.png",
    )
    assert leg.keys[-1] == "endpoints/happy_big__center.png"
    # From the last tween, going to speaking_ah is shorter by rewinding all the way.
    leg = router.leg_from_key("sequences/neutral_to_happy_soft__center/075.png", State("speaking_ah", CENTER))
    assert leg.keys[:3] == (
        "sequences/neutral_to_happy_soft__center/050.png",
        "sequences/neutral_to_happy_soft__center/025.png",
        "endpoints/neutral__center.png",
    )


def test_reroute_keeps_heading_on_a_tie() -> None:
    # neutral and smile both reach talk in one sequence: from the middle of neutral -> smile
    # either way is equally long, so the frame on screen keeps moving the way it was going.
    config = tiny_config()
    config["base_paths"].append({"id": "smile_to_talk", "start": "smile", "end": "talk"})
    router = Router(make_rig(config))
    middle = "sequences/neutral_to_smile__front/050.png"
    talk = State("talk", "front")
    onward = router.leg_from_key(middle, talk, reversed_heading=False)
    assert onward.keys[:2] == ("sequences/neutral_to_smile__front/075.png", "endpoints/smile__front.png")
    back = router.leg_from_key(middle, talk, reversed_heading=True)
    assert back.keys[:2] == ("sequences/neutral_to_smile__front/025.png", "endpoints/neutral__front.png")
    assert len(onward.keys) == len(back.keys)


def test_reroute_from_an_endpoint_is_the_plain_route(router: Router) -> None:
    src = State("concerned", CENTER)
    assert router.leg_from_key("endpoints/concerned__center.png", State("neutral", CENTER)) is router.leg(
        src, State("neutral", CENTER)
    )


def test_reroute_from_a_foreign_key_raises(router: Router) -> None:
    with pytest.raises(UnreachableError, match="is not part of the rig's routes"):
        router.leg_from_key("sequences/nope/050.png", State("neutral", CENTER))


def test_every_route_is_shortest_and_tie_broken_as_documented(face_rig: Rig) -> None:
    """Check all pairs against a brute-force search over the same graph."""
    router = Router(face_rig)
    states = sorted(face_rig.endpoints)
    inf = 10**9
    dist = {a: {b: 0 if a == b else inf for b in states} for a in states}
    for a in states:
        for edge in router.neighbours(a):
            dist[a][edge.dst] = min(dist[a][edge.dst], edge.cost)
    for k in states:  # Floyd-Warshall
        for i in states:
            for j in states:
                dist[i][j] = min(dist[i][j], dist[i][k] + dist[k][j])
    for src in states:
        for dst in states:
            route = router.route(src, dst)
            assert sum(e.cost for e in route) == dist[src][dst]
            # Among shortest routes: forward before reversed, then by sequence id, step by step.
            node, expected = src, []
            while node != dst:
                here = node
                edge = min(
                    (e for e in router.neighbours(here) if e.cost + dist[e.dst][dst] == dist[here][dst]),
                    key=lambda e: (e.reversed, e.sequence.id),
                )
                expected.append(edge)
                node = edge.dst
            assert list(route) == expected
