"""Regenerate the README example: ``examples/hello.ogg`` and its timeline ``examples/hello.json`` (writes files).

Run ``python examples/make_hello.py``. The timeline is deterministic (espeak-ng speaks the line
the same way every time); the Ogg/Opus bytes may differ between CPUs and builds, so tests compare
the decoded audio, never the file's bytes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from streamer.core.rig import DEFAULT_VISEMES
from streamer.core.timeline import loads, parse_timeline
from streamer.speech import synthesize, timeline_for, to_ogg_bytes

LINE = "Hi! I'm Pip. I can talk, smile and nod along with you."
AUDIO_ID = "hello.ogg"  # the server registers example audio under its file name
HERE = Path(__file__).resolve().parent


def to_json(timeline: dict[str, Any]) -> str:
    """Pretty JSON with one track item per line, so diffs and the README stay readable."""
    tracks = timeline["tracks"]
    lines = ["{"]
    for key, value in timeline.items():
        if key != "tracks":
            lines.append(f"  {json.dumps(key)}: {json.dumps(value, ensure_ascii=False)},")
            continue
        lines.append('  "tracks": {')
        for i, (name, items) in enumerate(tracks.items()):
            rows = ",\n".join(f"      {json.dumps(item, ensure_ascii=False)}" for item in items)
            lines.append(f"    {json.dumps(name)}: [\n{rows}\n    ]" + ("," if i + 1 < len(tracks) else ""))
        lines.append("  },")
    lines[-1] = lines[-1].rstrip(",")
    return "\n".join(lines) + "\n}\n"


def build() -> tuple[bytes, str]:
    """The example's audio bytes and timeline JSON text."""
    speech = synthesize(LINE, voice="en-us", rate_wpm=165, pitch=50)
    nod = next(w for w in speech.words if w.text == "nod")
    pose = [
        {"t_ms": nod.t_ms, "pose": "nod_down_small", "transition_ms": 250},
        {"t_ms": nod.end_ms + 150, "pose": "center", "transition_ms": 350},
    ]
    timeline = timeline_for(speech, AUDIO_ID, DEFAULT_VISEMES, pose=pose)
    timeline["meta"] = {"text": LINE, "voice": "espeak-ng en-us", "made_by": "examples/make_hello.py"}
    text = to_json(timeline)
    parse_timeline(loads(text))  # what we write must load
    return to_ogg_bytes(speech), text


def main() -> None:
    audio, text = build()
    (HERE / AUDIO_ID).write_bytes(audio)
    (HERE / "hello.json").write_text(text, encoding="utf-8")
    print(f"wrote examples/{AUDIO_ID} ({len(audio)} bytes) and examples/hello.json ({len(text)} bytes)")


if __name__ == "__main__":
    main()
