"""``streamer rig generate``: a rig from one picture with gpt-image-1, the old app's stages (I/O: HTTPS via the SDK).

Stages, as face_rig's: (1) every expression at the centre pose, edited from the picture (which
is itself ``neutral`` at the centre); (2) each expression at every other head pose, edited from
its centre image; (3) in-betweens, offline with ``rig tween`` (default) or generated from both
endpoints (``tweens="ai"``). Every image is written as soon as it arrives and kept: a rerun
makes only what is missing. Each image is registered against its reference (the image it was
edited from): resized to the rig's size when the framing matches, and its *drift* measured, the
mean difference over the part of the picture that should not change (all but the most changed
share of the area: 20 % for expressions, 50 % for head poses). Drifting images are
regenerated up to a limit, then kept and listed in ``generate-report.json``.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from streamer.core.errors import StreamerError
from streamer.core.rig import RigConfig, parse_rig_config
from streamer.rigs.chroma import apply_key, find_key
from streamer.rigs.files import RGBA, write_png
from streamer.rigs.tween import TweenJob, plan_tweens

log = logging.getLogger(__name__)

# Estimated US$ per 1024x1536 image edit (gpt-image-1 list prices as published in 2025; check the
# current price list; --price overrides). Input image tokens add a little on top.
PRICES = {"low": 0.016, "medium": 0.063, "high": 0.25}
API_SIZES = {"portrait": "1024x1536", "landscape": "1536x1024", "square": "1024x1024"}
REPORT = "generate-report.json"
STATE = "generate.json"

WORDS: Mapping[str, str] = {
    "neutral": "relaxed, neutral",
    "smile_soft": "a soft closed-mouth smile",
    "smile_big": "a big open smile",
    "ah": "open as when saying 'ah'",
    "ee": "wide as when saying 'ee'",
    "uw": "rounded as when saying 'oo'",
    "frown": "a slight frown",
    "wide": "wide open",
    "squint": "happily squinting",
    "blink_closed": "closed (mid-blink)",
    "raise": "raised",
    "furrow": "furrowed",
    "center": "facing the viewer",
    "tilt_left_small": "with the head tilted slightly to the left",
    "tilt_right_small": "with the head tilted slightly to the right",
    "nod_down_small": "with the head nodded slightly down",
    "nod_up_small": "with the head nodded slightly up",
}
KEEP = "Keep the hair, clothes, proportions, outline, art style and framing identical; transparent background."


class QuotaExceeded(StreamerError):
    """The account is out of credit: stop, keep what was made."""


@dataclass(frozen=True)
class ImageJob:
    """One image to make: where it goes, the images it is edited from, the prompt, its drift allowance."""

    key: str
    sources: tuple[str, ...]  # keys below the rig root, or "" for the source picture
    prompt: str
    free_area: float


@dataclass(frozen=True)
class GenerateOptions:
    model: str = "gpt-image-1"
    quality: str = "high"
    size: tuple[int, int] = (1024, 1536)
    max_workers: int = 4
    tweens: str = "offline"
    chroma: str = "auto"
    drift_threshold: float = 0.06
    max_regenerations: int = 2
    retries: int = 4
    retry_base_s: float = 1.0
    price: float | None = None

    @property
    def api_size(self) -> str:
        w, h = self.size
        return API_SIZES["portrait" if h > w else "landscape" if w > h else "square"]

    @property
    def price_per_image(self) -> float:
        return self.price if self.price is not None else PRICES.get(self.quality, PRICES["high"])


@dataclass
class GenerateReport:
    made: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)  # not tried: an image they are edited from failed
    drift: dict[str, dict[str, Any]] = field(default_factory=dict)  # key -> {drift, tries, flagged}
    quota: str | None = None


def _describe(config: RigConfig, expr: str) -> str:
    parts = [f"{axis}: {WORDS.get(value, value.replace('_', ' '))}" for axis, value in config.expressions[expr].items()]
    return "; ".join(parts)


def plan_images(config: RigConfig, tweens: str) -> list[list[ImageJob]]:
    """The stages of images to make, in order (pure). The picture is ``neutral`` at the first pose."""
    center = config.poses[0]
    hub = "neutral" if "neutral" in config.expressions else next(iter(config.expressions))
    stage1 = [
        ImageJob(
            f"endpoints/{e}__{center}.png",
            ("",),
            f"The same character with this expression: {_describe(config, e)}. {KEEP}",
            0.2,
        )
        for e in config.expressions
        if e != hub
    ]
    stage2 = [
        ImageJob(
            f"endpoints/{e}__{p}.png",
            (f"endpoints/{e}__{center}.png",),
            f"The same character, same expression, {WORDS.get(p, p.replace('_', ' '))}. {KEEP}",
            0.5,
        )
        for e in config.expressions
        for p in config.poses[1:]
    ]
    stages = [stage1, stage2]
    if tweens == "ai":
        stages.append([job for seq in plan_tweens(config) for job in _tween_jobs(config, seq)])
    return stages


def _tween_jobs(config: RigConfig, seq: TweenJob) -> list[ImageJob]:
    return [
        ImageJob(
            f"sequences/{seq.name}/{item['file']}",
            (seq.start_key, seq.end_key),
            f"A frame {round(float(item['t']) * 100)}% of the way between the first image "
            f"({_describe(config, seq.start.expr)}, {WORDS.get(seq.start.pose, seq.start.pose)}) and the second "
            f"({_describe(config, seq.end.expr)}, {WORDS.get(seq.end.pose, seq.end.pose)}). {KEEP}",
            0.2 if seq.start.pose == seq.end.pose else 0.5,
        )
        for item in seq.manifest["frames"]
    ]


def drift(image: RGBA, reference: RGBA, free_area: float) -> float:
    """Mean difference (0..1) over the ``1 - free_area`` least changed part, on 64-pixel-wide thumbnails."""

    def thumb(a: RGBA) -> np.ndarray:
        h = max(1, round(64 * a.shape[0] / a.shape[1]))
        small = np.asarray(Image.fromarray(a, "RGBA").resize((64, h), Image.Resampling.BOX), np.float32) / 255
        small[..., :3] *= small[..., 3:4]
        return small

    diff = np.sort(np.abs(thumb(image) - thumb(reference)).mean(axis=2).ravel())
    keep = max(1, int(len(diff) * (1 - free_area)))
    return float(diff[:keep].mean())


def _decode(data: bytes, what: str) -> RGBA:
    try:
        with Image.open(io.BytesIO(data)) as img:
            return np.asarray(img.convert("RGBA"))
    except (OSError, UnidentifiedImageError, SyntaxError) as exc:
        raise StreamerError(f"{what}: the service sent something that is not an image ({exc})") from exc


def register(image: RGBA, size: tuple[int, int], what: str) -> RGBA:
    """``image`` at the rig's ``size``; an error when its framing (aspect ratio) is not the rig's."""
    h, w = image.shape[:2]
    if abs(w / h - size[0] / size[1]) > 0.02:
        raise StreamerError(f"{what}: came back {w}x{h}, another framing than the rig's {size[0]}x{size[1]}")
    if (w, h) == size:
        return image
    return np.asarray(Image.fromarray(image, "RGBA").resize(size, Image.Resampling.LANCZOS))


def load_picture(path: Path, size: tuple[int, int], chroma: str) -> RGBA:
    """The source picture as RGBA at ``size`` (fitted, transparent margins), its green screen keyed out."""
    try:
        with Image.open(path) as img:
            img.load()
            picture = img.convert("RGBA")
    except FileNotFoundError:
        raise StreamerError(f"{path}: no such picture") from None
    except (OSError, UnidentifiedImageError, SyntaxError) as exc:
        raise StreamerError(f"{path}: not a readable image ({exc})") from None
    rgba = np.asarray(picture)
    key = find_key(rgba, chroma)
    if key is not None:
        rgba = apply_key(rgba, key)
    fitted = Image.fromarray(rgba, "RGBA")
    fitted.thumbnail(size, Image.Resampling.LANCZOS)
    canvas = Image.new("RGBA", size, (0, 0, 0, 0))
    canvas.alpha_composite(fitted, ((size[0] - fitted.width) // 2, (size[1] - fitted.height) // 2))
    return np.asarray(canvas)


def picture_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


class Generator:
    """Runs the stages against an OpenAI-compatible ``client`` (``client.images.edit``)."""

    def __init__(
        self,
        client: Any,
        root: Path,
        config: RigConfig,
        options: GenerateOptions,
        progress: Callable[[int, int], None] | None = None,
        on_failure: Callable[[str], None] | None = None,
    ) -> None:
        self.client = client
        self.root = root
        self.config = config
        self.options = options
        self.progress = progress
        self.on_failure = on_failure
        self.report = GenerateReport()
        self._stop = threading.Event()
        self._lock = threading.Lock()

    def _png(self, key: str) -> bytes:
        return (self.root / (key or "source.png")).read_bytes()

    def _read(self, key: str) -> RGBA:
        return _decode(self._png(key), key or "source.png")

    def _call(self, job: ImageJob) -> bytes:
        """One images.edit call with retries on 429/5xx; the image bytes."""
        import openai

        files = [(Path(k or "source.png").name, self._png(k), "image/png") for k in job.sources]
        for attempt in range(self.options.retries + 1):
            if self._stop.is_set():
                raise QuotaExceeded("stopped")
            try:
                result = self.client.images.edit(
                    model=self.options.model,
                    image=files if len(files) > 1 else files[0],
                    prompt=job.prompt,
                    size=self.options.api_size,
                    quality=self.options.quality,
                    background="transparent",
                    input_fidelity="high",
                )
                b64 = result.data[0].b64_json if result.data else None
                if not b64:
                    raise StreamerError(f"{job.key}: the answer holds no image")
                return base64.b64decode(b64)
            except openai.APIStatusError as exc:
                code = _error_code(exc.body)
                if exc.status_code == 429 and code == "insufficient_quota":
                    self._stop.set()
                    raise QuotaExceeded(f"quota exceeded ({code}): {_message(exc.body)}") from None
                retryable = exc.status_code == 429 or exc.status_code >= 500
                if not retryable or attempt == self.options.retries:
                    raise StreamerError(f"{exc.status_code} {_message(exc.body)} after {attempt + 1} tries") from None
                time.sleep(_delay(exc.response.headers.get("retry-after"), attempt, self.options.retry_base_s))
            except (openai.APIConnectionError, openai.APITimeoutError) as exc:
                if attempt == self.options.retries:
                    raise StreamerError(f"cannot reach the service: {exc} after {attempt + 1} tries") from None
                time.sleep(_delay(None, attempt, self.options.retry_base_s))
        raise AssertionError("unreachable")

    def make(self, job: ImageJob) -> None:
        reference = self._read(job.sources[0])
        best: tuple[float, RGBA] | None = None
        tries = 0
        while tries <= self.options.max_regenerations:
            tries += 1
            image = register(_decode(self._call(job), job.key), self.options.size, job.key)
            key = find_key(image, self.options.chroma)
            if key is not None:
                image = apply_key(image, key)
            score = drift(image, reference, job.free_area)
            if best is None or score < best[0]:
                best = (score, image)
            if score <= self.options.drift_threshold:
                break
        assert best is not None
        flagged = best[0] > self.options.drift_threshold
        with self._lock:
            if tries > 1 or flagged:
                self.report.drift[job.key] = {"drift": round(best[0], 4), "tries": tries, "flagged": flagged}
        write_png(self.root / job.key, best[1])

    def run(self, stages: list[list[ImageJob]]) -> GenerateReport:
        todo_total = sum(1 for s in stages for j in s if not (self.root / j.key).is_file())
        done = 0
        if self.progress:
            self.progress(0, todo_total)
        for stage in stages:
            todo = [j for j in stage if not (self.root / j.key).is_file()]
            self.report.kept += [j.key for j in stage if j not in todo]
            runnable = [j for j in todo if all(not k or (self.root / k).is_file() for k in j.sources)]
            self.report.skipped += [j.key for j in todo if j not in runnable]
            with ThreadPoolExecutor(self.options.max_workers) as pool:
                futures = {pool.submit(self.make, j): j for j in runnable}
                for future in as_completed(futures):
                    job = futures[future]
                    try:
                        future.result()
                        self.report.made.append(job.key)
                    except QuotaExceeded as exc:
                        if str(exc) != "stopped":
                            self.report.quota = str(exc)
                    except StreamerError as exc:
                        self.report.failed[job.key] = str(exc)
                        if self.on_failure:
                            self.on_failure(f"{job.key}: {exc}")
                    done += 1
                    if self.progress:
                        self.progress(done, todo_total)
            if self.report.quota:
                break
        self.report.made.sort()
        return self.report


def _error_code(body: object) -> str | None:
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("code"), str):
            return str(inner["code"])
    return None


def _message(body: object) -> str:
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return str(inner["message"])[:200]
    return str(body)[:200]


def _delay(retry_after: str | None, attempt: int, base_s: float) -> float:
    try:
        if retry_after is not None:
            return min(60.0, max(0.0, float(retry_after)))
    except ValueError:
        pass
    return float(min(60.0, base_s * 2**attempt))


def prepare(
    picture: Path, out: Path, config_doc: dict[str, Any], options: GenerateOptions, overwrite: bool
) -> RigConfig:
    """Check ``out`` (refusing another rig), write ``rig.json``, ``source.png`` and the state file."""
    config = parse_rig_config(config_doc)
    digest = picture_hash(picture)
    state_path = out / STATE
    if out.exists() and not out.is_dir():
        raise StreamerError(f"{out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()):
        state = _read_state(state_path)
        if state.get("picture") != digest and not overwrite:
            what = (
                "a rig made from another picture" if state else "something else (not a rig generated from this picture)"
            )
            raise StreamerError(f"{out}: already holds {what}; pass --overwrite to replace it, or choose another --out")
        if state.get("picture") != digest and overwrite:
            if not (out / "rig.json").is_file() and not state:
                raise StreamerError(f"{out}: not empty and not a rig; refusing to overwrite it")
            import shutil

            for name in ("endpoints", "sequences"):
                shutil.rmtree(out / name, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    image = load_picture(picture, options.size, options.chroma)
    write_png(out / "source.png", image)
    (out / "endpoints").mkdir(exist_ok=True)
    center = config.poses[0]
    hub = "neutral" if "neutral" in config.expressions else next(iter(config.expressions))
    if not (out / f"endpoints/{hub}__{center}.png").is_file():
        write_png(out / f"endpoints/{hub}__{center}.png", image)
    doc = {**config_doc, "size": list(options.size)}
    (out / "rig.json").write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    state_path.write_text(json.dumps({"picture": digest, "model": options.model}) + "\n", encoding="utf-8")
    return config


def _read_state(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_report(out: Path, report: GenerateReport) -> None:
    doc = {
        "made": report.made,
        "kept": len(report.kept),
        "failed": report.failed,
        "skipped": report.skipped,
        "drift": report.drift,
    }
    (out / REPORT).write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
