"""Live speech: text streamed by a simulated LLM to a channel with viewers, as it is said.

``python -m benchmarks.speak``: the server in its own process, ``--viewers`` viewers on one
channel (all but one only drain bytes, in a separate process); the remaining one observes and
stamps every message on the server clock. A controller streams each utterance word by word at
``--tokens-per-s`` (``say`` with a stream id, ``final`` on the last word), offline voice. Every
``--interrupt-every``-th utterance is interrupted 1.5 s after its first word.

Figures, on the server clock (the last line is one JSON object):

- ``first_mouth_ms`` p50/p95: from the first text byte sent to the display time of the first
  mouth-open frame (a frame of a speaking viseme);
- ``first_audio_ms`` p50/p95: to the first segment's audio start;
- mouth and voice share one schedule (a segment's frames and audio start at the same server
  time by construction), so their offset is not measured here; ``tests/browser/test_say.py``
  checks the pages keep them together across segment boundaries;
- ``gap_ms_max``: the largest gap between one segment's audio end and the next one's start
  within an utterance (text pauses are inside the audio, so 0 is no added gap), and
  ``split_utterances``: utterances whose next segment came even after the previous one's
  closing hold (500 ms), so a new program began (a longer gap, not in ``gap_ms_max``);
- ``interrupt_ms`` p95: from sending ``interrupt`` to the display time of the closed mouth;
- ``late_frames``: frames that reached the observer after their display time;
- ``audio_late``: segments whose audio the observer had not fetched in full by their start time
  (it fetches every announced segment over HTTP as the pages do; the other viewers do not), and
  ``audio_slack_ms_p5``: how early the 5 % latest fetches were done. A page's decode and output
  latency are not covered (``tests/browser/test_say.py`` plays segments in Chromium).

What it covers: one server process, offline espeak-ng voice (``en-us``), the observer and the
controller on loopback; ``load_avg`` is the machine's 1-minute load average at the start and the
end of the run (other work on a shared machine moves every figure).

Where the first-mouth time goes, p50 of each part (they add up to ``first_mouth_ms``):
``cut_ms`` (first text byte to the text that completes the first segment: waiting for words),
``synth_ms`` (from there until the observer hears the segment announced: synthesis, encoding,
storing, resolving and sending), ``lead_ms`` (announced to the audio's start: the re-plan lead)
and ``mouth_ms`` (the audio's start to the first mouth-open frame: the first sound's shape),
p50 and p95 of each; ``lead_in``: utterances whose audio waited for a route from the frame on
screen to the segment's first frame. ``--details`` prints one line per utterance to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import time
from typing import Any

import httpx
import websockets

from benchmarks.latency import percentile
from benchmarks.loadgen import clock_offset, draining_viewers, post, start_server
from streamer.core.channel import INTERRUPT_MS  # the mouth is closed this long after the end's t_ms

MOUTH_OPEN = ("speaking_", "oh_round")
OPENINGS = ["Well,", "So,", "Okay,", "Oh,", "Right,", "Hmm,"]
SENTENCES = [
    "that is a really interesting question and I am glad you asked it.",
    "the answer depends on what you want to build next.",
    "I think we should start small and see how it feels.",
    "today we are going to make something fun together.",
    "let me explain it step by step, slowly and clearly.",
    "nobody expected the stream to go this well, honestly.",
]


def utterance(rng: random.Random) -> list[str]:
    """An LLM-like answer, as the word tokens it would stream."""
    text = f"{rng.choice(OPENINGS)} {rng.choice(SENTENCES)} {rng.choice(SENTENCES).capitalize()}"
    return [w + " " for w in text.split()]


class Observer:
    """A viewer stamping each message's arrival on the server clock."""

    def __init__(self, ws: Any, offset: float, base: str) -> None:
        self.ws, self.offset = ws, offset
        self.messages: list[tuple[float, dict[str, Any]]] = []
        self.late = 0
        self.http = httpx.AsyncClient(base_url=base)
        self.fetches: list[asyncio.Task[None]] = []
        self.audio_slack: list[float] = []  # start_ms minus when the segment's bytes were here

    def now(self) -> float:
        return time.monotonic() * 1000 + self.offset

    async def run(self) -> None:
        async for raw in self.ws:
            at = self.now()
            message = json.loads(raw)
            self.messages.append((at, message))
            if message["type"] == "frames":
                self.late += sum(1 for t, _ in message["frames"] if message["from_ms"] < t < at)
            elif message["type"] == "audio":
                self.fetches.append(asyncio.create_task(self.fetch(message)))

    async def fetch(self, message: dict[str, Any]) -> None:
        """Fetch a segment's audio as a page does, noting how long before its start it was here."""
        answer = await self.http.get(message["url"])
        answer.raise_for_status()
        self.audio_slack.append(message["start_ms"] - self.now())

    async def wait_for(self, since: int, check: Any, timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for _, m in self.messages[since:]:
                if check(m):
                    return m
            await asyncio.sleep(0.01)
        raise TimeoutError("the observer did not see the expected message")


def first_open(messages: list[dict[str, Any]], from_ms: int) -> int | None:
    """The display time of the first mouth-open frame at or after ``from_ms`` in the frames messages."""
    frames: list[tuple[int, str]] = []
    for m in messages:
        if m["type"] == "frames":
            frames = [f for f in frames if f[0] < m["from_ms"]] + [(t, u) for t, u in m["frames"]]
    times = [t for t, u in sorted(frames) if t >= from_ms and any(k in u for k in MOUTH_OPEN)]
    return times[0] if times else None


async def run(
    url: str, base: str, utterances: int, tokens_per_s: float, interrupt_every: int, details: bool
) -> dict[str, Any]:
    rng = random.Random(7)
    figures: dict[str, list[float]] = {"first_mouth": [], "first_audio": [], "gap": [], "interrupt": []}
    figures |= {"cut": [], "synth": [], "lead": [], "mouth": [], "lead_in": [], "split": []}
    sent_at: dict[str, float] = {}  # say id -> when it was sent
    segments: dict[str, int] = {}  # say id -> segments cut so far, from its ack
    async with websockets.connect(url, compression=None) as viewer, websockets.connect(url + "&role=controller") as ctl:
        observer = Observer(viewer, await clock_offset(viewer), base)
        (await observer.http.get("/health")).raise_for_status()  # a page's connection is open before it speaks
        watching = asyncio.create_task(observer.run())
        acks = asyncio.create_task(drain_acks(ctl, segments))
        for n in range(utterances):
            since, fetched = len(observer.messages), len(observer.audio_slack)
            stream = f"u{n}"
            started = observer.now()
            for i, token in enumerate(tokens := utterance(rng)):
                final = i == len(tokens) - 1
                sent_at[f"{n}-{i}"] = observer.now()
                await ctl.send(
                    json.dumps({"type": "say", "id": f"{n}-{i}", "stream": stream, "text": token, "final": final})
                )
                await asyncio.sleep(1 / tokens_per_s)
            interrupted = interrupt_every and n % interrupt_every == interrupt_every - 1
            if interrupted:
                await asyncio.sleep(max(0.0, 1.5 - (observer.now() - started) / 1000))
                sent = observer.now()
                await ctl.send(json.dumps({"type": "interrupt", "id": f"{n}-stop"}))
            end = await observer.wait_for(since, lambda m: m["type"] == "program_end", timeout=60)
            ours = [m for _, m in observer.messages[since:]]
            audio = [m for m in ours if m["type"] == "audio"]
            if not audio:
                raise RuntimeError(f"utterance {n}: no audio was announced")
            figures["first_audio"].append(audio[0]["start_ms"] - started)
            begun = next(k for k, m in enumerate(ours) if m["type"] == "program_start")
            replan = next(m for m in reversed(ours[:begun]) if m["type"] == "frames")  # sent with it
            figures["lead_in"].append(int(audio[0]["start_ms"] > replan["from_ms"]))
            mouth = first_open(ours, audio[0]["start_ms"])
            if mouth is not None:
                figures["first_mouth"].append(mouth - started)
                cut_id = next((f"{n}-{i}" for i in range(len(tokens)) if segments.get(f"{n}-{i}", 0) >= 1), None)
                announced = next(at for at, m in observer.messages[since:] if m["type"] == "audio")
                if cut_id is not None:
                    figures["cut"].append(sent_at[cut_id] - started)
                    figures["synth"].append(announced - sent_at[cut_id])
                figures["lead"].append(audio[0]["start_ms"] - announced)
                figures["mouth"].append(mouth - audio[0]["start_ms"])
            gaps = [
                after["start_ms"] - (before["start_ms"] + before["duration_ms"])
                for before, after in zip(audio, audio[1:], strict=False)
                if after["program_id"] == before["program_id"]
            ]
            figures["gap"] += gaps
            programs = len({m["program_id"] for m in audio})
            figures["split"].append(int(programs > 1))  # a segment came after the closing hold: a new program
            if interrupted and end["reason"] == "interrupted":
                figures["interrupt"].append(end["t_ms"] + INTERRUPT_MS - sent)
            if details:
                parts = {k: round(v[-1]) for k, v in figures.items() if k not in ("gap", "split") and v}
                slack = [round(x) for x in observer.audio_slack[fetched:]]
                print(
                    f"{n:3d} {tokens[0].strip():7s} {parts} audio slack {slack} gaps {gaps} programs {programs}",
                    file=sys.stderr,
                )
            await asyncio.sleep(0.3)
        await asyncio.gather(*observer.fetches)
        await observer.http.aclose()
        watching.cancel()
        acks.cancel()
    return {**figures, "late": [observer.late], "audio_slack": observer.audio_slack}


async def drain_acks(ws: Any, segments: dict[str, int]) -> None:
    async for raw in ws:
        message = json.loads(raw)
        if message["type"] == "error":
            raise RuntimeError(message["message"])
        if message["type"] == "ack" and "segments" in message["result"]:
            segments[message["id"]] = message["result"]["segments"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--viewers", type=int, default=100)
    parser.add_argument("--utterances", type=int, default=50)
    parser.add_argument("--tokens-per-s", type=float, default=20.0)
    parser.add_argument("--interrupt-every", type=int, default=5)
    parser.add_argument("--details", action="store_true", help="one line per utterance on stderr")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    with start_server() as (base, _proc):
        url = base.replace("http", "ws") + "/ws?channel=speak"
        post(base, "/channels/speak/stop", {})  # a command creates the channel before the viewers join
        with draining_viewers(url, args.viewers - 1):
            figures = asyncio.run(
                run(url, base, args.utterances, args.tokens_per_s, args.interrupt_every, args.details)
            )

    def pct(name: str, q: float) -> float | None:
        values = figures[name]
        return round(percentile(values, q), 1) if values else None

    print(
        json.dumps(
            {
                "covers": "one server process, offline espeak-ng en-us, loopback; times on the server clock from "
                "the first text byte to the display time planned for viewers; one viewer fetches the audio; "
                "a page's decode and output latency are not covered",
                "viewers": args.viewers,
                "utterances": args.utterances,
                "tokens_per_s": args.tokens_per_s,
                "first_mouth_ms_p50": pct("first_mouth", 0.5),
                "first_mouth_ms_p95": pct("first_mouth", 0.95),
                "first_audio_ms_p50": pct("first_audio", 0.5),
                "first_audio_ms_p95": pct("first_audio", 0.95),
                "gap_ms_max": max(figures["gap"], default=None),
                "split_utterances": sum(figures["split"]),
                "interrupts": len(figures["interrupt"]),
                "interrupt_ms_p95": pct("interrupt", 0.95),
                "late_frames": figures["late"][0],
                "audio_late": sum(1 for slack in figures["audio_slack"] if slack < 0),
                "audio_slack_ms_p5": pct("audio_slack", 0.05),
                **{
                    f"{part}_ms_p{q}": pct(part, q / 100)
                    for part in ("cut", "synth", "lead", "mouth")
                    for q in (50, 95)
                },
                "lead_in": sum(figures["lead_in"]),
                "load_avg": [round(load_before, 1), round(os.getloadavg()[0], 1)],
            }
        )
    )


if __name__ == "__main__":
    main()
