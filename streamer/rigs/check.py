"""``streamer rig check``: validate a rig folder and say what it covers and what to do about gaps (does I/O).

A rig passes when it loads (every endpoint present, manifests valid), every image decodes and
has the rig's size, and every state is reachable from the hub state through sequences. An
unreachable state is an error, not a warning: ``say`` and live play would fail on it. Each such
error names the command that fixes it.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from streamer.core.errors import RigError, StreamerError
from streamer.core.rig import Rig, State
from streamer.core.routing import Router, router_for
from streamer.rigs.files import image_problem, image_size, size_problems
from streamer.rigs.tween import hub_state, plan_tweens

MAX_LISTED = 12


@dataclass(frozen=True)
class CheckResult:
    """The coverage lines to print, and the problems that fail the check."""

    lines: tuple[str, ...]
    problems: tuple[str, ...]


def check_rig(root: Path) -> CheckResult:
    """Check the rig in ``root`` (see the module docstring)."""
    from streamer.rigload import load_rig

    try:
        rig = load_rig(root)
    except RigError as exc:
        return CheckResult((), tuple(exc.problems))
    unreachable = _unreachable(rig)
    problems = _image_problems(root, rig) + _reachability_problems(root, rig, unreachable)
    return CheckResult(tuple(_coverage(rig, root, len(unreachable))), tuple(problems))


def _image_problems(root: Path, rig: Rig) -> list[str]:
    keys = sorted(rig.file_sizes)

    def one(key: str) -> tuple[str, str | None, tuple[int, int] | None]:
        reason = image_problem(root / key)
        return key, reason, None if reason else image_size(root / key)

    with ThreadPoolExecutor(4) as pool:  # decoding releases the GIL
        results = list(pool.map(one, keys))
    problems = [f"unreadable image {key}: {reason}" for key, reason, _ in results if reason]
    sizes = {key: size for key, _, size in results if size is not None}
    return problems + size_problems(sizes, rig.config.size)


def _reachable(router: Router, a: State, b: State) -> bool:
    try:
        router.route(a, b)
    except StreamerError:
        return False
    return True


def _unreachable(rig: Rig) -> list[State]:
    start = hub_state(rig.config)
    router = router_for(rig)
    return [s for s in rig.endpoints if s != start and not _reachable(router, start, s)]


def _tween_reaches(rig: Rig) -> set[State]:
    """States a full ``rig tween`` would connect to the hub (the sequences rig.json implies)."""
    edges: dict[State, set[State]] = {}
    for job in plan_tweens(rig.config, 1):
        edges.setdefault(job.start, set()).add(job.end)
        edges.setdefault(job.end, set()).add(job.start)
    seen = {hub_state(rig.config)}
    todo = list(seen)
    while todo:
        for nxt in edges.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def _reachability_problems(root: Path, rig: Rig, unreachable: list[State]) -> list[str]:
    if not unreachable:
        return []
    start = hub_state(rig.config)
    fixable = _tween_reaches(rig)
    problems: list[str] = []
    for state in unreachable[:MAX_LISTED]:
        if state in fixable:
            fix = f"make its in-betweens: streamer rig tween {root}"
        else:
            fix = f"no base path in rig.json leads to {state.expr!r}: add one, then run streamer rig tween {root}"
        problems.append(f"{state.expr}@{state.pose} is unreachable from {start.expr}@{start.pose}; {fix}")
    if len(unreachable) > MAX_LISTED:
        problems.append(f"... and {len(unreachable) - MAX_LISTED} more unreachable states (same fix)")
    return problems


def _coverage(rig: Rig, root: Path, unreachable: int) -> list[str]:
    cfg = rig.config
    expr_seqs = [s for s in rig.sequences.values() if not s.is_pose_move]
    pose_seqs = [s for s in rig.sequences.values() if s.is_pose_move]
    have = {(s.start.expr, s.end.expr, s.start.pose) for s in expr_seqs}
    full = sum(all((bp.start, bp.end, p) in have for p in cfg.poses) for bp in cfg.base_paths)
    mb = sum(rig.file_sizes.values()) / 1e6
    start = hub_state(cfg)
    lines = [
        f"rig {cfg.name!r} in {root}" + (f", {cfg.size[0]}x{cfg.size[1]}" if cfg.size else ""),
        f"endpoints: {len(cfg.expressions)} expressions x {len(cfg.poses)} poses"
        f" = {len(rig.endpoints)} endpoints, all present",
        f"base paths: {full}/{len(cfg.base_paths)} at every pose ({len(expr_seqs)} expression sequences)",
        f"head-pose sequences: {len(pose_seqs)}"
        + (f" ({', '.join(sorted(s.id for s in pose_seqs))})" if pose_seqs else ""),
        f"frames: {len(rig.file_sizes)} files, {mb:.1f} MB",
        f"routes: {len(rig.endpoints) - 1 - unreachable}/{len(rig.endpoints) - 1}"
        f" states reachable from {start.expr}@{start.pose}",
    ]
    return lines + [f"warning: {w}" for w in rig.warnings]
