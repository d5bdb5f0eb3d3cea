"""Rig config parsing and rig building: validation, manifests, endpoints, folder names."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from streamer.core.errors import RigError
from streamer.core.rig import RigListing, State, build_rig, parse_rig_config
from tests.rigs import listing_for, make_rig, tiny_config

FACE_RIG_EXPRESSIONS = Path(__file__).parent / "data" / "face_rig-expressions.json"


def _files(config: dict[str, Any], tweens: int = 3) -> dict[str, int]:
    return dict(listing_for(config, tweens).files)


def _problems(exc_info: pytest.ExceptionInfo[RigError]) -> str:
    return "\n".join(exc_info.value.problems)


def test_builds_a_valid_tiny_rig() -> None:
    config = tiny_config()
    rig = make_rig(config)
    assert set(rig.endpoints) == {State(e, p) for e in config["expressions"] for p in config["poses"]}
    assert rig.endpoint_key(State("smile", "side")) == "endpoints/smile__side.png"
    assert rig.warnings == ()
    seq = rig.sequences["neutral_to_smile__front"]
    assert (seq.start, seq.end) == (State("neutral", "front"), State("smile", "front"))
    assert [t for t, _ in seq.frames] == [0.25, 0.5, 0.75]


def test_config_problems_are_all_reported_at_once() -> None:
    config = tiny_config()
    config["poses"] = ["front", "side", "bad pose"]
    config["expressions"]["smile"]["mouth"] = "grin"
    config["base_paths"].append({"id": "neutral_to_laugh", "start": "neutral", "end": "laugh"})
    config["speech_transition_ms"] = -5
    with pytest.raises(RigError) as exc_info:
        parse_rig_config(config)
    problems = exc_info.value.problems
    assert "poses[2]: invalid name 'bad pose'" in problems
    assert "expressions.smile.mouth: unknown value 'grin'" in problems
    assert "base_paths[3] (neutral_to_laugh): unknown expression 'laugh' in end" in problems
    assert any(p.startswith("speech_transition_ms:") and "-5" in p for p in problems)
    assert str(exc_info.value).endswith(f"(and {len(problems) - 1} more)")


def test_rig_config_must_be_an_object() -> None:
    with pytest.raises(RigError, match="must be a JSON object"):
        parse_rig_config(["not", "an", "object"])


def test_listing_problems_are_all_reported_at_once() -> None:
    config = tiny_config()
    files = _files(config)
    del files["endpoints/smile__side.png"]  # missing endpoint
    files["endpoints/bad key!.png"] = 1  # bad key
    for t in (25, 50, 75):  # this sequence's frames: only in its manifest (one of them missing)
        del files[f"sequences/neutral_to_smile__front/{t:03d}.png"]
    files["sequences/neutral_to_smile__front/a.png"] = 1
    manifests: dict[str, object] = {
        "neutral_to_smile__front": {"frames": [{"t": 0.5, "file": "a.png"}, {"t": 0.75, "file": "gone.png"}]},
        "neutral_to_talk__side": {"frames": []},  # empty sequence
    }
    for t in (25, 50, 75):
        del files[f"sequences/neutral_to_talk__side/{t:03d}.png"]
    unreadable = {"endpoints/talk__front.png": "not a PNG file"}
    with pytest.raises(RigError) as exc_info:
        build_rig(parse_rig_config(config), RigListing(files=files, manifests=manifests, unreadable=unreadable))
    problems = _problems(exc_info)
    assert "missing endpoint endpoints/smile__side.png" in problems
    assert "frame key 'endpoints/bad key!.png' has an unsupported character" in problems
    assert "sequence neutral_to_smile__front: manifest frames[1] names missing file 'gone.png'" in problems
    assert "sequence neutral_to_talk__side: empty sequence (no frames)" in problems
    assert "unreadable file endpoints/talk__front.png: not a PNG file" in problems
    assert len(exc_info.value.problems) >= 5


def test_unknown_sequence_folders_are_problems() -> None:
    config = tiny_config()
    files = _files(config)
    files["sequences/neutral_to_frown__front/050.png"] = 1
    files["sequences/neutral_to_smile__back/050.png"] = 1
    files["sequences/whatever/050.png"] = 1
    with pytest.raises(RigError) as exc_info:
        build_rig(parse_rig_config(config), RigListing(files=files))
    problems = _problems(exc_info)
    assert "sequence neutral_to_frown__front: unknown base path 'neutral_to_frown'" in problems
    assert "sequence neutral_to_smile__back: unknown pose 'back'" in problems
    assert "sequence whatever: name is neither" in problems


def test_manifest_frames_replace_numbered_files() -> None:
    config = tiny_config()
    files = _files(config)
    files["sequences/neutral_to_smile__front/in_between.png"] = 1
    manifests: dict[str, object] = {
        "neutral_to_smile__front": {
            "path_id": "neutral_to_smile",
            "expr_start": "neutral",
            "expr_end": "smile",
            "pose": "front",
            "frames": [{"t": 0.6, "file": "in_between.png"}, {"t": 0.3, "file": "025.png"}],
        }
    }
    rig = build_rig(parse_rig_config(config), RigListing(files=files, manifests=manifests))
    # Sorted by t; numbered files the manifest does not name are not part of the sequence.
    assert rig.sequences["neutral_to_smile__front"].frames == (
        (0.3, "sequences/neutral_to_smile__front/025.png"),
        (0.6, "sequences/neutral_to_smile__front/in_between.png"),
    )
    assert not rig.has_key("sequences/neutral_to_smile__front/050.png")
    # Without a manifest, NNN.png is t = NNN / 100.
    assert rig.sequences["neutral_to_talk__front"].frames == tuple(
        (t / 100, f"sequences/neutral_to_talk__front/{t:03d}.png") for t in (25, 50, 75)
    )


def test_manifest_that_disagrees_with_its_folder_is_a_problem() -> None:
    config = tiny_config()
    manifests: dict[str, object] = {
        "neutral_to_smile__front": {
            "expr_start": "neutral",
            "expr_end": "talk",
            "frames": [{"t": 0.5, "file": "050.png"}],
        },
        "neutral_to_talk__front": {"frames": [{"t": 1.5, "file": "050.png"}, "050.png"]},
        "neutral_to_blink__front": ["not", "an", "object"],
    }
    with pytest.raises(RigError) as exc_info:
        build_rig(parse_rig_config(config), RigListing(files=_files(config), manifests=manifests))
    problems = _problems(exc_info)
    assert "manifest expr_end 'talk' does not match 'smile'" in problems
    assert "neutral_to_talk__front: manifest frames[0].t must be a number in [0, 1], got 1.5" in problems
    assert "neutral_to_talk__front: manifest frames[1] must be an object" in problems
    assert "neutral_to_blink__front: manifest.json must be an object with a frames list" in problems


def test_frames_at_t0_and_t1_are_treated_as_endpoints() -> None:
    config = tiny_config()
    files = _files(config)
    files["sequences/neutral_to_smile__front/000.png"] = 1
    files["sequences/neutral_to_smile__front/100.png"] = 1
    files["sequences/neutral_to_talk__front/first.png"] = 1
    files["sequences/neutral_to_talk__front/last.png"] = 1
    manifests: dict[str, object] = {
        "neutral_to_talk__front": {
            "frames": [{"t": 0, "file": "first.png"}, {"t": 0.5, "file": "050.png"}, {"t": 1.0, "file": "last.png"}]
        }
    }
    rig = build_rig(parse_rig_config(config), RigListing(files=files, manifests=manifests))
    assert [t for t, _ in rig.sequences["neutral_to_smile__front"].frames] == [0.25, 0.5, 0.75]
    assert rig.sequences["neutral_to_talk__front"].frames == ((0.5, "sequences/neutral_to_talk__front/050.png"),)
    for key in (
        "sequences/neutral_to_smile__front/000.png",
        "sequences/neutral_to_smile__front/100.png",
        "sequences/neutral_to_talk__front/first.png",
    ):
        assert not rig.has_key(key)


def test_a_sequence_of_only_endpoint_frames_is_a_direct_cut() -> None:
    config = tiny_config()
    files = _files(config)
    for t in (25, 50, 75):
        del files[f"sequences/neutral_to_smile__front/{t:03d}.png"]
    files["sequences/neutral_to_smile__front/000.png"] = 1
    files["sequences/neutral_to_smile__front/100.png"] = 1
    rig = build_rig(parse_rig_config(config), RigListing(files=files))
    assert rig.sequences["neutral_to_smile__front"].frames == ()


def test_accepts_face_rig_expressions_json() -> None:
    data = json.loads(FACE_RIG_EXPRESSIONS.read_text(encoding="utf-8"))
    config = parse_rig_config(data)
    assert config.poses == ("center", "tilt_left_small", "tilt_right_small", "nod_down_small", "nod_up_small")
    assert len(config.expressions) == 10 and len(config.base_paths) == 21
    assert config.axes["eyes"] == ("neutral", "wide", "squint", "blink_closed")
    surprised = next(bp for bp in config.base_paths if bp.end == "surprised_ah")
    assert (surprised.id, surprised.start) == ("speaking_ah_to_surprised", "speaking_ah")
    assert config.visemes["AA"] == "speaking_ah" and config.visemes["OW"] == "oh_round"
    rig = build_rig(config, listing_for(data))
    assert rig.warnings == ()
    assert rig.sequences["speaking_ah_to_surprised__nod_up_small"].end == State("surprised_ah", "nod_up_small")


def test_parses_pose_sequence_folder_names() -> None:
    config = tiny_config()
    files = _files(config)
    files["sequences/neutral_front_to_neutral_side/050.png"] = 1
    files["sequences/smile_side_to_smile_front/050.png"] = 1
    rig = build_rig(parse_rig_config(config), RigListing(files=files))
    move = rig.sequences["neutral_front_to_neutral_side"]
    assert (move.start, move.end, move.is_pose_move) == (State("neutral", "front"), State("neutral", "side"), True)
    smile_move = rig.sequences["smile_side_to_smile_front"]
    assert (smile_move.start, smile_move.end) == (State("smile", "side"), State("smile", "front"))
    assert not rig.sequences["neutral_to_smile__side"].is_pose_move


def test_parses_pose_names_with_underscores() -> None:
    data = json.loads(FACE_RIG_EXPRESSIONS.read_text(encoding="utf-8"))
    rig = make_rig(data)
    seq = rig.sequences["neutral_center_to_neutral_tilt_left_small"]
    assert (seq.start, seq.end) == (State("neutral", "center"), State("neutral", "tilt_left_small"))


def test_base_path_missing_at_a_pose_is_a_warning_not_an_error() -> None:
    config = tiny_config()
    files = {k: v for k, v in _files(config).items() if not k.startswith("sequences/neutral_to_talk__side/")}
    rig = build_rig(parse_rig_config(config), RigListing(files=files))
    assert rig.warnings == ("base path neutral_to_talk: no sequence at pose side",)


def test_indexes_frames_for_lookup() -> None:
    config = tiny_config()
    rig = make_rig(config)
    key = "sequences/neutral_to_talk__side/050.png"
    found = rig.sequence_of_key(key)
    assert found is not None and found[0].id == "neutral_to_talk__side" and found[1] == 1
    assert rig.state_of_key("endpoints/talk__side.png") == State("talk", "side")
    assert rig.state_of_key(key) is None
    assert rig.expression_with({"mouth": "closed", "eyes": "shut"}) == "blink_closed"
    assert rig.expression_with({"mouth": "open", "eyes": "shut"}) is None
    assert key in rig.frame_keys() and "endpoints/talk__side.png" in rig.frame_keys()
