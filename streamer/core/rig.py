"""The rig model: parse a rig config, check it against a file listing, index its frames (pure).

A rig is built from two plain inputs so that loading stays at the edges: the parsed
``rig.json`` (or face_rig's ``expressions.json``) and a :class:`RigListing` describing which
files exist (and the parsed sequence manifests). :func:`build_rig` validates everything and
raises one :class:`RigError` listing every problem.

Sequence frames at ``t == 0`` or ``t == 1`` are the sequence's endpoints; routing always shows
the endpoint images there, so rigs may omit those frames (ours do) or include them (face_rig's).
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from streamer.core.articulation import MOUTH_CLASSES
from streamer.core.errors import InvalidKey, RigError
from streamer.core.keys import validate_key

_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9\-]|_(?!_))*")
_NUMBERED_FRAME = re.compile(r"(\d{3})\.png")
DEFAULT_BLINK_EYES = "blink_closed"

# face_rig's vowel mapping (ARPAbet without stress digits) to mouth expressions, for English
# phones; every other sound goes by its articulation (core.articulation): bilabials close the
# mouth (the home expression's, unless the rig maps "closed"), other consonants relax towards
# neutral. A rig may override it with a "visemes" object in rig.json, whose keys are ARPAbet
# (any case), engine symbols between slashes ("/ɔ̃/", IPA or espeak mnemonics) or mouth classes.
DEFAULT_VISEMES: Mapping[str, str] = {
    **dict.fromkeys(("AA", "AH", "AO", "ER"), "speaking_ah"),
    **dict.fromkeys(("IY", "IH", "EH", "EY", "AE", "AY"), "speaking_ee"),
    **dict.fromkeys(("UW", "UH"), "speaking_uw"),
    **dict.fromkeys(("OW", "OY", "AW"), "oh_round"),
}


def _viseme_key(key: str) -> str:
    """A ``visemes`` key as looked up: ``/symbol/`` (NFC) and mouth classes as written, ARPAbet upper-cased."""
    if len(key) > 2 and key.startswith("/") and key.endswith("/"):
        return unicodedata.normalize("NFC", key)
    return key if key in MOUTH_CLASSES else key.upper()


def not_emotions(visemes: Mapping[str, str], blink_eyes: str = DEFAULT_BLINK_EYES) -> list[str]:
    """Expressions an emotion plan must not use: the mouth shapes of ``visemes`` and the blink."""
    return sorted({*visemes.values(), DEFAULT_BLINK_EYES, blink_eyes})


class State(NamedTuple):
    """A node of the transition graph: an expression at a head pose."""

    expr: str
    pose: str


@dataclass(frozen=True)
class BasePath:
    """A named expression transition that the rig renders at every pose."""

    id: str
    start: str
    end: str


@dataclass(frozen=True)
class BlinkSettings:
    """Idle blink timing (``blink`` in rig.json); all times in milliseconds."""

    eyes: str = DEFAULT_BLINK_EYES
    interval_min_ms: int = 2200
    interval_max_ms: int = 5800
    close_ms: int = 60
    closed_ms: int = 70
    open_ms: int = 110
    double_chance: float = 0.15


@dataclass(frozen=True)
class RigConfig:
    """The parsed ``rig.json``: names and how they relate, no files."""

    axes: Mapping[str, tuple[str, ...]]
    poses: tuple[str, ...]
    expressions: Mapping[str, Mapping[str, str]]
    base_paths: tuple[BasePath, ...]
    name: str = "rig"
    size: tuple[int, int] | None = None
    visemes: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_VISEMES))
    blink: BlinkSettings = BlinkSettings()
    speech_transition_ms: int = 60


@dataclass(frozen=True)
class Sequence:
    """A tween sequence between two states; ``frames`` are its interior ``(t, key)`` pairs."""

    id: str
    start: State
    end: State
    frames: tuple[tuple[float, str], ...]

    @property
    def is_pose_move(self) -> bool:
        return self.start.pose != self.end.pose


@dataclass(frozen=True)
class RigListing:
    """What exists below a rig root: file sizes by key, and parsed sequence manifests.

    ``manifests`` maps a sequence folder name to its parsed ``manifest.json`` (any JSON value,
    validated here). ``unreadable`` maps keys to the reason they could not be read.
    """

    files: Mapping[str, int]
    manifests: Mapping[str, object] = field(default_factory=dict)
    unreadable: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class Rig:
    """A validated rig. Identity-hashed so routers can be cached per rig."""

    config: RigConfig
    endpoints: Mapping[State, str]
    sequences: Mapping[str, Sequence]
    file_sizes: Mapping[str, int]
    warnings: tuple[str, ...] = ()
    # key -> the sequence it belongs to and its index among the interior frames
    _seq_index: Mapping[str, tuple[str, int]] = field(default_factory=dict, repr=False)
    _endpoint_state: Mapping[str, State] = field(default_factory=dict, repr=False)
    _by_axes: Mapping[tuple[str, ...], str] = field(default_factory=dict, repr=False)

    @property
    def expressions(self) -> Mapping[str, Mapping[str, str]]:
        return self.config.expressions

    @property
    def poses(self) -> tuple[str, ...]:
        return self.config.poses

    def describe(self, rig_id: str) -> dict[str, object]:
        """The rig as the live ``hello`` and ``rig`` messages describe it."""
        size = self.config.size
        return {
            "id": rig_id,
            "name": self.config.name,
            "size": list(size) if size else None,
            "expressions": list(self.expressions),
            "poses": list(self.poses),
        }

    def endpoint_key(self, state: State) -> str:
        return self.endpoints[state]

    def state_of_key(self, key: str) -> State | None:
        """The state an endpoint key shows, or None for a sequence frame."""
        return self._endpoint_state.get(key)

    def sequence_of_key(self, key: str) -> tuple[Sequence, int] | None:
        """The sequence and interior index of a tween frame key, or None."""
        found = self._seq_index.get(key)
        if found is None:
            return None
        return self.sequences[found[0]], found[1]

    def has_key(self, key: str) -> bool:
        return key in self._endpoint_state or key in self._seq_index

    def frame_keys(self) -> frozenset[str]:
        """Every key that routing can show."""
        return frozenset(self._endpoint_state) | frozenset(self._seq_index)

    @property
    def home_expression(self) -> str:
        """The resting expression: ``neutral`` when the rig has it, else its first expression."""
        return "neutral" if "neutral" in self.config.expressions else next(iter(self.config.expressions))

    def axes_of(self, expr: str) -> Mapping[str, str]:
        return self.config.expressions[expr]

    def expression_with(self, axes: Mapping[str, str]) -> str | None:
        """The expression whose axis values equal ``axes``, or None."""
        return self._by_axes.get(tuple(axes[a] for a in self.config.axes))


def _names(value: object, where: str, problems: list[str]) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        problems.append(f"{where}: must be a non-empty list of names")
        return ()
    out: list[str] = []
    for i, item in enumerate(value):
        if not isinstance(item, str) or not _NAME.fullmatch(item):
            problems.append(f"{where}[{i}]: invalid name {item!r}")
        elif item in out:
            problems.append(f"{where}[{i}]: duplicate name {item!r}")
        else:
            out.append(item)
    return tuple(out)


def _int(value: object, where: str, problems: list[str], lo: int, hi: int) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        problems.append(f"{where}: must be an integer in [{lo}, {hi}], got {value!r}")
        return None
    return value


def parse_rig_config(data: object) -> RigConfig:
    """Parse a rig config (``rig.json`` or face_rig's ``expressions.json``).

    Raises :class:`RigError` listing every problem.
    """
    problems: list[str] = []
    if not isinstance(data, dict):
        raise RigError(["rig config: must be a JSON object"])
    raw_axes = data.get("axes")
    axes: dict[str, tuple[str, ...]] = {}
    if not isinstance(raw_axes, dict) or not raw_axes:
        problems.append("axes: must be an object of axis name -> list of values")
    else:
        for axis, values in raw_axes.items():
            if not _NAME.fullmatch(str(axis)):
                problems.append(f"axes: invalid axis name {axis!r}")
                continue
            axes[axis] = _names(values, f"axes.{axis}", problems)
    poses = _names(data.get("poses"), "poses", problems)

    expressions: dict[str, dict[str, str]] = {}
    raw_exprs = data.get("expressions")
    if not isinstance(raw_exprs, dict) or not raw_exprs:
        problems.append("expressions: must be an object of name -> axis values")
    else:
        for name, values in raw_exprs.items():
            where = f"expressions.{name}"
            if not _NAME.fullmatch(str(name)):
                problems.append(f"expressions: invalid expression name {name!r}")
                continue
            if not isinstance(values, dict):
                problems.append(f"{where}: must be an object of axis -> value")
                continue
            for axis, value in values.items():
                if axis not in axes:
                    problems.append(f"{where}: unknown axis {axis!r}")
                elif value not in axes[axis]:
                    problems.append(f"{where}.{axis}: unknown value {value!r}")
            missing = [a for a in axes if a not in values]
            if missing:
                problems.append(f"{where}: missing axis {', '.join(missing)}")
            expressions[name] = {a: values[a] for a in axes if a in values}

    base_paths: list[BasePath] = []
    raw_paths = data.get("base_paths", [])
    if not isinstance(raw_paths, list):
        problems.append("base_paths: must be a list of {id, start, end}")
        raw_paths = []
    seen_ids: set[str] = set()
    for i, bp in enumerate(raw_paths):
        where = f"base_paths[{i}]"
        if not isinstance(bp, dict) or not all(isinstance(bp.get(k), str) for k in ("id", "start", "end")):
            problems.append(f"{where}: must be an object with string id, start and end")
            continue
        if not _NAME.fullmatch(bp["id"]):
            problems.append(f"{where}: invalid id {bp['id']!r}")
            continue
        if bp["id"] in seen_ids:
            problems.append(f"{where}: duplicate id {bp['id']!r}")
        seen_ids.add(bp["id"])
        for end in ("start", "end"):
            if bp[end] not in expressions:
                problems.append(f"{where} ({bp['id']}): unknown expression {bp[end]!r} in {end}")
        base_paths.append(BasePath(bp["id"], bp["start"], bp["end"]))

    size: tuple[int, int] | None = None
    if "size" in data:
        raw = data["size"]
        if isinstance(raw, list) and len(raw) == 2:
            w = _int(raw[0], "size[0]", problems, 1, 16384)
            h = _int(raw[1], "size[1]", problems, 1, 16384)
            size = (w, h) if w and h else None
        else:
            problems.append(f"size: must be [width, height], got {raw!r}")

    # The default map keeps only shapes this rig has (a vowel without one relaxes to neutral).
    visemes = {k: v for k, v in DEFAULT_VISEMES.items() if v in expressions}
    if "visemes" in data:
        raw_v = data["visemes"]
        if not isinstance(raw_v, dict):
            problems.append("visemes: must be an object of phoneme -> expression")
        else:
            for phoneme, expr in raw_v.items():
                if expr not in expressions:
                    problems.append(f"visemes.{phoneme}: unknown expression {expr!r}")
            visemes = {_viseme_key(str(k)): v for k, v in raw_v.items()}

    blink = _parse_blink(data.get("blink", {}), axes, problems)
    speech_ms = data.get("speech_transition_ms", 60)
    speech_ms = _int(speech_ms, "speech_transition_ms", problems, 0, 10_000) or 0
    name = data.get("name", "rig")
    if not isinstance(name, str):
        problems.append(f"name: must be a string, got {name!r}")
        name = "rig"

    if problems:
        raise RigError(problems)
    return RigConfig(
        axes=axes,
        poses=poses,
        expressions=expressions,
        base_paths=tuple(base_paths),
        name=name,
        size=size,
        visemes=visemes,
        blink=blink,
        speech_transition_ms=speech_ms,
    )


def _parse_blink(raw: object, axes: Mapping[str, tuple[str, ...]], problems: list[str]) -> BlinkSettings:
    if not isinstance(raw, dict):
        problems.append("blink: must be an object")
        return BlinkSettings()
    defaults = BlinkSettings()
    values: dict[str, object] = {}
    for name in ("interval_min_ms", "interval_max_ms", "close_ms", "closed_ms", "open_ms"):
        if name in raw:
            values[name] = _int(raw[name], f"blink.{name}", problems, 0, 60_000)
    if "double_chance" in raw:
        dc = raw["double_chance"]
        if isinstance(dc, bool) or not isinstance(dc, (int, float)) or not 0 <= dc <= 1:
            problems.append(f"blink.double_chance: must be a number in [0, 1], got {dc!r}")
        else:
            values["double_chance"] = float(dc)
    if "eyes" in raw:
        if raw["eyes"] not in axes.get("eyes", ()):
            problems.append(f"blink.eyes: unknown eyes value {raw['eyes']!r}")
        else:
            values["eyes"] = raw["eyes"]
    if any(v is None for v in values.values()):
        return defaults
    settings = BlinkSettings(**values)  # type: ignore[arg-type]
    if settings.interval_min_ms > settings.interval_max_ms:
        problems.append("blink: interval_min_ms is greater than interval_max_ms")
    return settings


def build_rig(config: RigConfig, listing: RigListing) -> Rig:
    """Check ``listing`` against ``config`` and index the rig's frames.

    Raises :class:`RigError` listing every problem: bad keys, missing or unreadable endpoints,
    empty sequences, manifests naming missing files or unknown names.
    """
    problems: list[str] = []
    warnings: list[str] = []
    for key in sorted(listing.files):
        try:
            validate_key(key)
        except InvalidKey as exc:
            problems.append(str(exc))
    for key, reason in sorted(listing.unreadable.items()):
        problems.append(f"unreadable file {key}: {reason}")

    endpoints: dict[State, str] = {}
    for expr in config.expressions:
        for pose in config.poses:
            key = f"endpoints/{expr}__{pose}.png"
            if key not in listing.files:
                problems.append(f"missing endpoint {key}")
            endpoints[State(expr, pose)] = key

    by_dir: dict[str, list[str]] = {}
    for key in listing.files:
        parts = key.split("/")
        if len(parts) == 3 and parts[0] == "sequences":
            by_dir.setdefault(parts[1], []).append(parts[2])
    for name in listing.manifests:
        by_dir.setdefault(name, [])

    sequences: dict[str, Sequence] = {}
    for name in sorted(by_dir):
        seq = _build_sequence(name, by_dir[name], listing.manifests.get(name), config, problems)
        if seq is not None:
            sequences[name] = seq

    present = {(s.start.expr, s.end.expr, s.start.pose) for s in sequences.values()}
    for bp in config.base_paths:
        missing = [p for p in config.poses if (bp.start, bp.end, p) not in present]
        if missing:
            warnings.append(f"base path {bp.id}: no sequence at pose {', '.join(missing)}")

    if problems:
        raise RigError(problems)

    seq_index = {key: (s.id, i) for s in sequences.values() for i, (_, key) in enumerate(s.frames)}
    by_axes: dict[tuple[str, ...], str] = {}
    for expr, values in config.expressions.items():
        combo = tuple(values[a] for a in config.axes)
        if combo in by_axes:
            warnings.append(f"expressions {by_axes[combo]} and {expr} have the same axes")
        else:
            by_axes[combo] = expr
    return Rig(
        config=config,
        endpoints=endpoints,
        sequences=sequences,
        file_sizes=dict(listing.files),
        warnings=tuple(warnings),
        _seq_index=seq_index,
        _endpoint_state={k: s for s, k in endpoints.items()},
        _by_axes=by_axes,
    )


def _parse_pose_dir(name: str, config: RigConfig) -> tuple[State, State] | None:
    """Match ``{expr}_{poseA}_to_{expr}_{poseB}`` against the rig's names."""
    for expr in config.expressions:
        for pa in config.poses:
            head = f"{expr}_{pa}_to_"
            if not name.startswith(head):
                continue
            for expr2 in config.expressions:
                for pb in config.poses:
                    if name == f"{head}{expr2}_{pb}":
                        return State(expr, pa), State(expr2, pb)
    return None


def _build_sequence(
    name: str,
    files: list[str],
    manifest: object,
    config: RigConfig,
    problems: list[str],
) -> Sequence | None:
    where = f"sequence {name}"
    paths = {bp.id: bp for bp in config.base_paths}
    if "__" in name:
        path_id, _, pose = name.rpartition("__")
        if path_id not in paths:
            problems.append(f"{where}: unknown base path {path_id!r}")
            return None
        if pose not in config.poses:
            problems.append(f"{where}: unknown pose {pose!r}")
            return None
        start = State(paths[path_id].start, pose)
        end = State(paths[path_id].end, pose)
    else:
        states = _parse_pose_dir(name, config)
        if states is None:
            problems.append(f"{where}: name is neither {{path}}__{{pose}} nor {{expr}}_{{pose}}_to_{{expr}}_{{pose}}")
            return None
        start, end = states

    frames: list[tuple[float, str]] = []
    if manifest is not None:
        if not isinstance(manifest, dict) or not isinstance(manifest.get("frames"), list):
            problems.append(f"{where}: manifest.json must be an object with a frames list")
            return None
        for field_name, want in (("expr_start", start.expr), ("expr_end", end.expr)):
            got = manifest.get(field_name, want)
            if got != want:
                problems.append(f"{where}: manifest {field_name} {got!r} does not match {want!r}")
        for i, item in enumerate(manifest["frames"]):
            if not isinstance(item, dict):
                problems.append(f"{where}: manifest frames[{i}] must be an object {{t, file}}")
                continue
            t, file = item.get("t"), item.get("file")
            if isinstance(t, bool) or not isinstance(t, (int, float)) or not 0 <= t <= 1:
                problems.append(f"{where}: manifest frames[{i}].t must be a number in [0, 1], got {t!r}")
                continue
            if not isinstance(file, str) or file not in files:
                problems.append(f"{where}: manifest frames[{i}] names missing file {file!r}")
                continue
            frames.append((float(t), f"sequences/{name}/{file}"))
    else:
        for file in files:
            m = _NUMBERED_FRAME.fullmatch(file)
            if m and int(m.group(1)) <= 100:
                frames.append((int(m.group(1)) / 100, f"sequences/{name}/{file}"))
    if not frames:
        problems.append(f"{where}: empty sequence (no frames)")
        return None
    frames.sort()
    for (t1, k1), (t2, _) in zip(frames, frames[1:], strict=False):
        if t1 == t2:
            problems.append(f"{where}: two frames at t={t1} ({k1})")
    interior = tuple((t, k) for t, k in frames if 0 < t < 1)
    return Sequence(id=name, start=start, end=end, frames=interior)


def suggest(name: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``choices``, or an empty string."""
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.5)
    return f" (did you mean {close[0]!r}?)" if close else ""
