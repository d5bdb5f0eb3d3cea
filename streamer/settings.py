"""The one settings object: reads the environment (the only module that does) (I/O).

face_rig's variable names are kept (``USE_S3``, ``S3_*``, ``OPENAI_*``, ``ELEVENLABS_*``,
``CORS_ORIGINS``, ``PORT``); ours are prefixed ``STREAMER_``. Every value is checked here, once:
a bad one raises :class:`ConfigError` naming the variable and the value.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from streamer.core.errors import StreamerError

PACKAGE_ROOT = Path(__file__).resolve().parent.parent

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
# Where viewers fetch frames: this server (from the cache), S3_BASE_URL, or presigned S3 URLs.
URL_MODES = ("server", "public", "presigned")
# Who plans emotions for spoken lines: the offline rules, OpenAI, or OpenAI when its key is set.
EMOTION_PROVIDERS = ("rules", "openai", "auto")
DEFAULT_OPENAI_MODEL = "gpt-4o-mini"
DEFAULT_ELEVENLABS_VOICE = "21m00Tcm4TlvDq8ikWAM"  # "Rachel", one of the service's premade voices
DEFAULT_ELEVENLABS_MODEL = "eleven_multilingual_v2"


class ConfigError(StreamerError, ValueError):
    """A configuration value (environment variable or CLI flag) is invalid."""


def default_frames_dir() -> Path:
    """``./frames`` when run from a rig-bearing folder, else the demo rig shipped with the project."""
    here = Path.cwd() / "frames"
    if (here / "rig.json").is_file():
        return here
    return PACKAGE_ROOT / "frames"


def _int(env: Mapping[str, str], name: str, default: int, lo: int, hi: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}: must be an integer, got {raw!r}") from None
    if not lo <= value <= hi:
        raise ConfigError(f"{name}: must be in [{lo}, {hi}], got {value}")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"{name}: must be true or false, got {raw!r}")


def _str(env: Mapping[str, str], name: str, default: str | None = None) -> str | None:
    raw = env.get(name, "").strip()
    return raw or default


def _origins(raw: str) -> tuple[str, ...]:
    origins = tuple(o.strip().rstrip("/") for o in raw.split(",") if o.strip())
    if not origins:
        raise ConfigError(f"CORS_ORIGINS: must list at least one origin or '*', got {raw!r}")
    for origin in origins:
        if origin != "*" and not origin.startswith(("http://", "https://")):
            raise ConfigError(f"CORS_ORIGINS: origin {origin!r} must start with http:// or https:// (or be '*')")
    return origins


@dataclass(frozen=True)
class Settings:
    """Configuration for the server and the CLI. Secrets are kept out of ``repr``.

    Besides the documented variables, ``STREAMER_CLIENT_DIR`` and ``STREAMER_EXAMPLES_DIR``
    move the browser client and the examples seeded into the data folder (default: the
    project's ``client/`` and ``examples/``).
    """

    frames_dir: Path
    data_dir: Path
    # STREAMER_RIGS_DIR: a folder of rig folders, each offered by its folder name beside the
    # default rig, or s3://S3_BUCKET/PREFIX/ with one rig "folder" per prefix (docs/rigs.md).
    rigs_dir: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    token: str | None = field(default=None, repr=False)
    cors_origins: tuple[str, ...] = ("*",)
    max_upload_mb: int = 25
    max_audio_s: int = 600
    max_channels: int = 64
    lookahead_ms: int = 1500
    batch_ms: int = 250
    viewer_queue: int = 256
    # A viewer that has not read what it was sent for this long is closed (WebSocket ping deadline).
    viewer_deadline_ms: int = 2000
    # A channel with no viewers and no program is removed after this long (never "main").
    channel_idle_s: int = 300
    # Requests at once to the heavy public routes (validate, schedule, captions); more get 429.
    heavy_concurrency: int = 2
    client_dir: Path = PACKAGE_ROOT / "client"
    examples_dir: Path = PACKAGE_ROOT / "examples"
    # face_rig names, read and kept for the S3, OpenAI and ElevenLabs adapters.
    use_s3: bool = False
    s3_bucket: str | None = None
    s3_region: str = "us-east-1"
    s3_prefix: str = "frames/"
    s3_base_url: str | None = None
    s3_endpoint_url: str | None = None
    # Frames on S3 and the cache in front of any frame store (see docs/s3.md).
    cache_mb: int = 512
    url_mode: str = "server"
    presign_expires_s: int = 3600
    s3_connect_timeout_ms: int = 2000
    s3_read_timeout_ms: int = 5000
    s3_max_attempts: int = 3
    store_concurrency: int = 16
    prefetch: bool = True
    openai_api_key: str | None = field(default=None, repr=False)
    openai_base_url: str | None = None
    elevenlabs_api_key: str | None = field(default=None, repr=False)
    elevenlabs_base_url: str | None = None
    # OpenAI emotion planning and Whisper, ElevenLabs speech (see docs/speech.md).
    openai_model: str = DEFAULT_OPENAI_MODEL
    openai_timeout_ms: int = 15_000
    openai_max_retries: int = 1
    elevenlabs_voice: str = DEFAULT_ELEVENLABS_VOICE
    elevenlabs_model: str = DEFAULT_ELEVENLABS_MODEL
    elevenlabs_timeout_ms: int = 60_000
    elevenlabs_max_retries: int = 2
    emotions: str = "auto"
    # Video export jobs (see docs/export.md).
    export_workers: int = 1
    export_max_queued: int = 4
    export_max_s: int = 600
    export_ttl_s: int = 3600
    export_webhook_hosts: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        checks: list[tuple[str, int, int, int]] = [
            ("port", self.port, 0, 65535),
            ("max_upload_mb", self.max_upload_mb, 1, 4096),
            ("max_audio_s", self.max_audio_s, 1, 86_400),
            ("max_channels", self.max_channels, 1, 100_000),
            ("lookahead_ms", self.lookahead_ms, 100, 60_000),
            ("batch_ms", self.batch_ms, 10, 10_000),
            ("viewer_queue", self.viewer_queue, 1, 1_000_000),
            ("viewer_deadline_ms", self.viewer_deadline_ms, 200, 120_000),
            ("channel_idle_s", self.channel_idle_s, 1, 30 * 86_400),
            ("heavy_concurrency", self.heavy_concurrency, 1, 256),
            ("cache_mb", self.cache_mb, 0, 1_048_576),
            ("presign_expires_s", self.presign_expires_s, 60, 604_800),
            ("s3_connect_timeout_ms", self.s3_connect_timeout_ms, 10, 120_000),
            ("s3_read_timeout_ms", self.s3_read_timeout_ms, 10, 300_000),
            ("s3_max_attempts", self.s3_max_attempts, 1, 10),
            ("store_concurrency", self.store_concurrency, 1, 1024),
            ("export_workers", self.export_workers, 1, 64),
            ("export_max_queued", self.export_max_queued, 0, 10_000),
            ("export_max_s", self.export_max_s, 1, 86_400),
            ("export_ttl_s", self.export_ttl_s, 1, 30 * 86_400),
            ("openai_timeout_ms", self.openai_timeout_ms, 100, 600_000),
            ("openai_max_retries", self.openai_max_retries, 0, 10),
            ("elevenlabs_timeout_ms", self.elevenlabs_timeout_ms, 100, 600_000),
            ("elevenlabs_max_retries", self.elevenlabs_max_retries, 0, 10),
        ]
        for name, value, lo, hi in checks:
            if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
                raise ConfigError(f"{name}: must be an integer in [{lo}, {hi}], got {value!r}")
        if not self.host:
            raise ConfigError("host: must not be empty")
        if self.token is not None and not self.token:
            raise ConfigError("STREAMER_TOKEN: must not be empty when set")
        if self.use_s3 and not self.s3_bucket:
            raise ConfigError("S3_BUCKET: is required when USE_S3 is true")
        if self.url_mode not in URL_MODES:
            raise ConfigError(f"STREAMER_URL_MODE: must be one of {', '.join(URL_MODES)}, got {self.url_mode!r}")
        if self.url_mode == "public" and not self.s3_base_url:
            raise ConfigError("STREAMER_URL_MODE: 'public' needs S3_BASE_URL (the bucket's public or CDN URL)")
        if self.url_mode == "presigned" and not self.use_s3:
            raise ConfigError("STREAMER_URL_MODE: 'presigned' needs USE_S3=true")
        if self.rigs_dir is not None and not self.rigs_dir.strip():
            raise ConfigError("STREAMER_RIGS_DIR: must not be empty when set")
        if self.rigs_s3 is not None:
            if not self.use_s3:
                raise ConfigError("STREAMER_RIGS_DIR: an s3:// location needs USE_S3=true")
            if self.rigs_s3[0] != self.s3_bucket:
                raise ConfigError(
                    f"STREAMER_RIGS_DIR: rigs on S3 must be in S3_BUCKET {self.s3_bucket!r}, got {self.rigs_s3[0]!r}"
                )
        if self.emotions not in EMOTION_PROVIDERS:
            choices = ", ".join(EMOTION_PROVIDERS)
            raise ConfigError(f"STREAMER_EMOTIONS: must be one of {choices}, got {self.emotions!r}")
        if self.emotions == "openai" and not self.openai_api_key:
            raise ConfigError("STREAMER_EMOTIONS: 'openai' needs OPENAI_API_KEY")

    @property
    def rigs_folder(self) -> Path | None:
        """``rigs_dir`` when it is a local folder."""
        return None if self.rigs_dir is None or self.rigs_dir.startswith("s3://") else Path(self.rigs_dir)

    @property
    def rigs_s3(self) -> tuple[str, str] | None:
        """``(bucket, prefix)`` when ``rigs_dir`` is ``s3://BUCKET/PREFIX/`` (prefix ``""`` or ending in ``/``)."""
        if self.rigs_dir is None or not self.rigs_dir.startswith("s3://"):
            return None
        bucket, _, prefix = self.rigs_dir.removeprefix("s3://").partition("/")
        if not bucket:
            raise ConfigError(f"STREAMER_RIGS_DIR: {self.rigs_dir!r} names no bucket (use s3://BUCKET/PREFIX/)")
        prefix = prefix.strip("/")
        return bucket, prefix + "/" if prefix else ""

    @property
    def max_upload_bytes(self) -> int:
        return self.max_upload_mb * 1024 * 1024

    @property
    def max_audio_ms(self) -> int:
        return self.max_audio_s * 1000

    @property
    def allow_any_origin(self) -> bool:
        return "*" in self.cors_origins

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Settings from ``env`` (default ``os.environ``); raises :class:`ConfigError` for bad values.

        ``PORT`` (set by hosting platforms) wins over ``STREAMER_PORT``.
        """
        env = os.environ if env is None else env
        frames = _str(env, "STREAMER_FRAMES_DIR")
        data = _str(env, "STREAMER_DATA_DIR")
        client = _str(env, "STREAMER_CLIENT_DIR")
        examples = _str(env, "STREAMER_EXAMPLES_DIR")
        port_name = "PORT" if _str(env, "PORT") else "STREAMER_PORT"
        return cls(
            frames_dir=Path(frames) if frames else default_frames_dir(),
            data_dir=Path(data) if data else Path.cwd() / "data",
            rigs_dir=_str(env, "STREAMER_RIGS_DIR"),
            host=_str(env, "STREAMER_HOST", "127.0.0.1") or "127.0.0.1",
            port=_int(env, port_name, 8000, 0, 65535),
            token=_str(env, "STREAMER_TOKEN"),
            cors_origins=_origins(env.get("CORS_ORIGINS", "*") or "*"),
            max_upload_mb=_int(env, "STREAMER_MAX_UPLOAD_MB", 25, 1, 4096),
            max_audio_s=_int(env, "STREAMER_MAX_AUDIO_S", 600, 1, 86_400),
            max_channels=_int(env, "STREAMER_MAX_CHANNELS", 64, 1, 100_000),
            lookahead_ms=_int(env, "STREAMER_LOOKAHEAD_MS", 1500, 100, 60_000),
            batch_ms=_int(env, "STREAMER_BATCH_MS", 250, 10, 10_000),
            viewer_queue=_int(env, "STREAMER_VIEWER_QUEUE", 256, 1, 1_000_000),
            viewer_deadline_ms=_int(env, "STREAMER_VIEWER_DEADLINE_MS", 2000, 200, 120_000),
            channel_idle_s=_int(env, "STREAMER_CHANNEL_IDLE_S", 300, 1, 30 * 86_400),
            heavy_concurrency=_int(env, "STREAMER_HEAVY_CONCURRENCY", 2, 1, 256),
            client_dir=Path(client) if client else PACKAGE_ROOT / "client",
            examples_dir=Path(examples) if examples else PACKAGE_ROOT / "examples",
            use_s3=_bool(env, "USE_S3", False),
            s3_bucket=_str(env, "S3_BUCKET"),
            s3_region=_str(env, "S3_REGION", "us-east-1") or "us-east-1",
            s3_prefix=env.get("S3_PREFIX", "frames/"),
            s3_base_url=_str(env, "S3_BASE_URL"),
            s3_endpoint_url=_str(env, "S3_ENDPOINT_URL"),
            cache_mb=_int(env, "STREAMER_CACHE_MB", 512, 0, 1_048_576),
            url_mode=(_str(env, "STREAMER_URL_MODE") or ("public" if _str(env, "S3_BASE_URL") else "server")).lower(),
            presign_expires_s=_int(env, "STREAMER_PRESIGN_EXPIRES_S", 3600, 60, 604_800),
            s3_connect_timeout_ms=_int(env, "STREAMER_S3_CONNECT_TIMEOUT_MS", 2000, 10, 120_000),
            s3_read_timeout_ms=_int(env, "STREAMER_S3_READ_TIMEOUT_MS", 5000, 10, 300_000),
            s3_max_attempts=_int(env, "STREAMER_S3_MAX_ATTEMPTS", 3, 1, 10),
            store_concurrency=_int(env, "STREAMER_STORE_CONCURRENCY", 16, 1, 1024),
            prefetch=_bool(env, "STREAMER_PREFETCH", True),
            openai_api_key=_str(env, "OPENAI_API_KEY"),
            openai_base_url=_str(env, "OPENAI_BASE_URL"),
            elevenlabs_api_key=_str(env, "ELEVENLABS_API_KEY"),
            elevenlabs_base_url=_str(env, "ELEVENLABS_BASE_URL"),
            openai_model=_str(env, "STREAMER_OPENAI_MODEL") or DEFAULT_OPENAI_MODEL,
            openai_timeout_ms=_int(env, "STREAMER_OPENAI_TIMEOUT_MS", 15_000, 100, 600_000),
            openai_max_retries=_int(env, "STREAMER_OPENAI_MAX_RETRIES", 1, 0, 10),
            elevenlabs_voice=_str(env, "STREAMER_ELEVENLABS_VOICE") or DEFAULT_ELEVENLABS_VOICE,
            elevenlabs_model=_str(env, "STREAMER_ELEVENLABS_MODEL") or DEFAULT_ELEVENLABS_MODEL,
            elevenlabs_timeout_ms=_int(env, "STREAMER_ELEVENLABS_TIMEOUT_MS", 60_000, 100, 600_000),
            elevenlabs_max_retries=_int(env, "STREAMER_ELEVENLABS_MAX_RETRIES", 2, 0, 10),
            emotions=(_str(env, "STREAMER_EMOTIONS") or "auto").lower(),
            export_workers=_int(env, "STREAMER_EXPORT_WORKERS", 1, 1, 64),
            export_max_queued=_int(env, "STREAMER_EXPORT_MAX_QUEUED", 4, 0, 10_000),
            export_max_s=_int(env, "STREAMER_EXPORT_MAX_S", 600, 1, 86_400),
            export_ttl_s=_int(env, "STREAMER_EXPORT_TTL_S", 3600, 1, 30 * 86_400),
            export_webhook_hosts=tuple(
                h.strip().lower() for h in env.get("STREAMER_EXPORT_WEBHOOK_HOSTS", "").split(",") if h.strip()
            ),
        )

    def replace(self, **changes: Any) -> Settings:
        """A copy with ``changes`` applied (and validated), for CLI flags and tests."""
        try:
            return dataclasses.replace(self, **changes)
        except TypeError as exc:
            raise ConfigError(f"settings: {exc}") from None
