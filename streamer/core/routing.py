"""Transition routing: shortest frame routes between rig states, cached per rig (pure).

Nodes are :class:`State` (expression, pose); every sequence is an edge that can be played
forward or reversed. The cost of an edge is the number of frames it shows (its interior
frames plus the destination endpoint), so the route shown is the one with the fewest frames.
Ties are broken by preferring forward playback, then by sequence id, which keeps routes stable
across runs and machines.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from functools import lru_cache

from streamer.core.errors import UnreachableError
from streamer.core.rig import Rig, Sequence, State


@dataclass(frozen=True)
class Edge:
    """One sequence played in one direction; ``keys`` ends with the destination endpoint."""

    sequence: Sequence
    reversed: bool
    src: State
    dst: State
    keys: tuple[str, ...]

    @property
    def cost(self) -> int:
        return len(self.keys)

    @property
    def order(self) -> tuple[int, bool, str]:
        return (self.cost, self.reversed, self.sequence.id)


@dataclass(frozen=True)
class Leg:
    """Frames to show, in order, and whether any of them moves the head."""

    keys: tuple[str, ...]
    moves_pose: bool
    heading_reversed: tuple[bool, ...]


class Router:
    """Shortest routes over one rig's transition graph; results are cached."""

    def __init__(self, rig: Rig) -> None:
        self.rig = rig
        self._out: dict[State, list[Edge]] = {s: [] for s in rig.endpoints}
        for seq in rig.sequences.values():
            inner = tuple(k for _, k in seq.frames)
            fwd = Edge(seq, False, seq.start, seq.end, inner + (rig.endpoint_key(seq.end),))
            rev = Edge(seq, True, seq.end, seq.start, inner[::-1] + (rig.endpoint_key(seq.start),))
            self._out[seq.start].append(fwd)
            self._out[seq.end].append(rev)
        for edges in self._out.values():
            edges.sort(key=lambda e: e.order)
        self._trees: dict[State, dict[State, tuple[Edge, ...]]] = {}
        self._legs: dict[tuple[State, State], Leg] = {}

    def neighbours(self, state: State) -> list[Edge]:
        return self._out[state]

    def _tree(self, src: State) -> dict[State, tuple[Edge, ...]]:
        tree = self._trees.get(src)
        if tree is not None:
            return tree
        best: dict[State, tuple[int, tuple[tuple[bool, str], ...], tuple[Edge, ...]]] = {}
        heap: list[tuple[int, tuple[tuple[bool, str], ...], int, State]] = [(0, (), 0, src)]
        paths: dict[int, tuple[Edge, ...]] = {0: ()}
        counter = 1
        while heap:
            cost, order, pid, node = heapq.heappop(heap)
            if node in best:
                continue
            path = paths.pop(pid)
            best[node] = (cost, order, path)
            for edge in self._out[node]:
                if edge.dst in best:
                    continue
                paths[counter] = path + (edge,)
                step = (edge.reversed, edge.sequence.id)
                heapq.heappush(heap, (cost + edge.cost, order + (step,), counter, edge.dst))
                counter += 1
        tree = {node: entry[2] for node, entry in best.items()}
        self._trees[src] = tree
        return tree

    def route(self, src: State, dst: State) -> tuple[Edge, ...]:
        """The edges from ``src`` to ``dst`` (empty when equal).

        Raises :class:`UnreachableError` when no route exists or a state is unknown.
        """
        for state in (src, dst):
            if state not in self._out:
                raise UnreachableError(f"unknown state {state.expr}@{state.pose}")
        path = self._tree(src).get(dst)
        if path is None:
            raise UnreachableError(f"no sequence route from {src.expr}@{src.pose} to {dst.expr}@{dst.pose}")
        return path

    def cost(self, src: State, dst: State) -> int:
        return sum(e.cost for e in self.route(src, dst))

    def leg(self, src: State, dst: State) -> Leg:
        """The frames of the route from ``src`` to ``dst``, cached."""
        leg = self._legs.get((src, dst))
        if leg is None:
            edges = self.route(src, dst)
            keys: list[str] = []
            headings: list[bool] = []
            for edge in edges:
                keys.extend(edge.keys)
                headings.extend([edge.reversed] * len(edge.keys))
            leg = Leg(tuple(keys), any(e.sequence.is_pose_move for e in edges), tuple(headings))
            self._legs[(src, dst)] = leg
        return leg

    def leg_from_key(self, key: str, dst: State, reversed_heading: bool = False) -> Leg:
        """The frames from the frame ``key`` on screen to ``dst``.

        From a tween frame the route first finishes or rewinds its sequence, whichever makes
        the whole route shorter; on a tie it keeps going the way it was heading.
        """
        state = self.rig.state_of_key(key)
        if state is not None:
            return self.leg(state, dst)
        found = self.rig.sequence_of_key(key)
        if found is None:
            raise UnreachableError(f"frame {key!r} is not part of the rig's routes")
        seq, index = found
        inner = [k for _, k in seq.frames]
        forward = tuple(inner[index + 1 :]) + (self.rig.endpoint_key(seq.end),)
        backward = tuple(inner[:index][::-1]) + (self.rig.endpoint_key(seq.start),)
        options = [
            (len(forward) + self.cost(seq.end, dst), reversed_heading, forward, seq.end, False),
            (len(backward) + self.cost(seq.start, dst), not reversed_heading, backward, seq.start, True),
        ]
        options.sort(key=lambda o: (o[0], o[1]))
        _, _, partial, via, rev = options[0]
        rest = self.leg(via, dst)
        return Leg(
            partial + rest.keys,
            seq.is_pose_move or rest.moves_pose,
            (rev,) * len(partial) + rest.heading_reversed,
        )


@lru_cache(maxsize=16)
def router_for(rig: Rig) -> Router:
    """The shared, cached router of ``rig``."""
    return Router(rig)
