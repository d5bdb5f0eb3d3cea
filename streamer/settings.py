"""The one settings object: reads the environment (the only module that does) (I/O).

Each setting is declared once, as a field of :class:`Settings` made by :func:`setting`: its
environment variable, type, default, bounds and help. From that one declaration come
:meth:`Settings.from_env`, the checks in ``__post_init__`` (so ``replace`` and tests are held to
the same bounds), the flags of ``streamer serve`` (:func:`add_flags`, as uvicorn's flags mirror its
config) and the table in ``docs/configuration.md`` (``python -m streamer.settings``).

face_rig's variable names are kept (``USE_S3``, ``S3_*``, ``OPENAI_*``, ``ELEVENLABS_*``,
``CORS_ORIGINS``, ``PORT``); ours are prefixed ``STREAMER_``. A bad value raises
:class:`ConfigError` naming the variable (or the field, for values set in code) and the value.
"""

from __future__ import annotations

import dataclasses
import os
import typing
from collections.abc import Callable, Mapping
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


@dataclass(frozen=True)
class Var:
    """How one setting is read and shown: the metadata of its :class:`Settings` field."""

    env: str
    help: str
    lo: int | None = None
    hi: int | None = None
    choices: tuple[str, ...] = ()
    # A variable read first when set (hosting platforms set PORT).
    override: str | None = None
    # Parses the raw text (after strip) into the field's value; default by the field's type.
    parse: Callable[[str], Any] | None = None
    # The default from_env uses when the variable is unset, computed at start-up (may read others).
    fallback: Callable[[Mapping[str, str]], Any] | None = None
    # The text shown for a computed default.
    shown_default: str | None = None
    # Flags of `streamer serve`; () keeps it environment-only (secrets: argv is visible to `ps`).
    flags: tuple[str, ...] | None = None
    secret: bool = False
    keep_empty: bool = False  # an empty value is a value (S3_PREFIX="" is the bucket's root)


def setting(default: Any = dataclasses.MISSING, /, **var: Any) -> Any:
    """A :class:`Settings` field declared with its :class:`Var` (keyword arguments)."""
    meta = Var(**var)
    return field(default=default, repr=not meta.secret, metadata={"var": meta})


def _integer_in(value: object, lo: int, hi: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi


def _origins(raw: str) -> tuple[str, ...]:
    origins = tuple(o.strip().rstrip("/") for o in raw.split(",") if o.strip())
    if not origins:
        raise ConfigError(f"must list at least one origin or '*', got {raw!r}")
    for origin in origins:
        if origin != "*" and not origin.startswith(("http://", "https://")):
            raise ConfigError(f"origin {origin!r} must start with http:// or https:// (or be '*')")
    return origins


def _hosts(raw: str) -> tuple[str, ...]:
    return tuple(h.strip().lower() for h in raw.split(",") if h.strip())


def _redis_url(raw: str) -> str:
    if not raw.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError(f"must start with redis://, rediss:// or unix://, got {raw.split('@')[-1][:80]!r}")
    return raw


def _s3_url(raw: str) -> str:
    bucket = raw.removeprefix("s3://").partition("/")[0] if raw.startswith("s3://") else ""
    if not bucket:
        raise ConfigError(f"must be s3://BUCKET or s3://BUCKET/PREFIX, got {raw[:80]!r}")
    return raw


def _url_mode_default(env: Mapping[str, str]) -> str:
    return "public" if env.get("S3_BASE_URL", "").strip() else "server"


@dataclass(frozen=True)
class Settings:
    """Configuration for the server and the CLI. Secrets are kept out of ``repr``."""

    # Where things are.
    frames_dir: Path = setting(
        env="STREAMER_FRAMES_DIR",
        help="the rig folder",
        fallback=lambda env: default_frames_dir(),
        shown_default="./frames if it holds a rig, else the demo rig",
        flags=("--rig", "--frames"),
    )
    data_dir: Path = setting(
        env="STREAMER_DATA_DIR",
        help="stored timelines, audio and exports",
        fallback=lambda env: Path.cwd() / "data",
        shown_default="./data",
        flags=("--data",),
    )
    data_url: str | None = setting(
        None,
        env="STREAMER_DATA_URL",
        parse=_s3_url,
        help="s3://BUCKET/PREFIX: stored timelines, audio, recordings and finished exports live there "
        "(the data folder then only caches files); unset, in the data folder (docs/scaling.md)",
    )
    audio_cache_mb: int = setting(
        1024,
        env="STREAMER_AUDIO_CACHE_MB",
        lo=1,
        hi=1_048_576,
        help="with STREAMER_DATA_URL: this machine's copies of audio files (MB); those used longest ago go first",
    )
    rigs_dir: str | None = setting(
        None,
        env="STREAMER_RIGS_DIR",
        flags=("--rigs",),
        help="more rigs: a folder of rig folders, each offered by its name beside the default rig, "
        "or s3://S3_BUCKET/PREFIX/ (docs/rigs.md)",
    )
    client_dir: Path = setting(PACKAGE_ROOT / "client", env="STREAMER_CLIENT_DIR", help="the browser client's files")
    examples_dir: Path = setting(
        PACKAGE_ROOT / "examples", env="STREAMER_EXAMPLES_DIR", help="examples seeded into the data folder"
    )
    # Listening and access.
    host: str = setting("127.0.0.1", env="STREAMER_HOST", help="address `streamer serve` binds")
    port: int = setting(8000, env="STREAMER_PORT", override="PORT", lo=0, hi=65535, help="port to listen on")
    token: str | None = setting(
        None, env="STREAMER_TOKEN", secret=True, help="control token for controllers and writes"
    )
    cors_origins: tuple[str, ...] = setting(
        ("*",),
        env="CORS_ORIGINS",
        parse=_origins,
        help="browser origins that may read; writes only from the server's own pages and origins named here",
    )
    # Several processes sharing channels (docs/scaling.md).
    redis_url: str | None = setting(
        None,
        env="REDIS_URL",
        secret=True,  # it may carry a password
        parse=_redis_url,
        help="Redis (redis://, rediss:// or unix://): processes share channels and export jobs through it; "
        "unset, one process holds every channel and export",
    )
    workers: int = setting(
        1, env="STREAMER_WORKERS", lo=1, hi=256, help="server processes on the port (more than 1 needs REDIS_URL)"
    )
    # Limits.
    max_upload_mb: int = setting(25, env="STREAMER_MAX_UPLOAD_MB", lo=1, hi=4096, help="audio upload cap (MB)")
    max_audio_s: int = setting(600, env="STREAMER_MAX_AUDIO_S", lo=1, hi=86_400, help="audio length cap (s)")
    max_channels: int = setting(64, env="STREAMER_MAX_CHANNELS", lo=1, hi=100_000, help="live channels per process")
    lookahead_ms: int = setting(
        1500, env="STREAMER_LOOKAHEAD_MS", lo=100, hi=60_000, help="how far ahead frames are pushed (ms)"
    )
    batch_ms: int = setting(250, env="STREAMER_BATCH_MS", lo=10, hi=10_000, help="how often frames are pushed (ms)")
    viewer_queue: int = setting(
        256, env="STREAMER_VIEWER_QUEUE", lo=1, hi=1_000_000, help="messages queued per viewer before it is dropped"
    )
    viewer_deadline_ms: int = setting(
        2000,
        env="STREAMER_VIEWER_DEADLINE_MS",
        lo=200,
        hi=120_000,
        help="a viewer that has not read what it was sent for this long is dropped (WebSocket ping deadline)",
    )
    channel_idle_s: int = setting(
        300,
        env="STREAMER_CHANNEL_IDLE_S",
        lo=1,
        hi=30 * 86_400,
        help="a channel with no viewers and no program is removed after this long (never `main`)",
    )
    heavy_concurrency: int = setting(
        2,
        env="STREAMER_HEAVY_CONCURRENCY",
        lo=1,
        hi=256,
        help="validations, schedules and caption exports at once; more get 429",
    )
    # Frames on S3 (face_rig's names) and the cache in front of any frame store (docs/s3.md).
    use_s3: bool = setting(False, env="USE_S3", help="read frames from S3")
    s3_bucket: str | None = setting(None, env="S3_BUCKET", help="the bucket (needed with USE_S3)")
    s3_region: str = setting("us-east-1", env="S3_REGION", help="the bucket's region")
    s3_prefix: str = setting("frames/", env="S3_PREFIX", keep_empty=True, help="key prefix of the rig in the bucket")
    s3_base_url: str | None = setting(None, env="S3_BASE_URL", help="the bucket's public or CDN URL")
    s3_endpoint_url: str | None = setting(None, env="S3_ENDPOINT_URL", help="an S3-compatible endpoint")
    cache_mb: int = setting(512, env="STREAMER_CACHE_MB", lo=0, hi=1_048_576, help="frame cache size (MB)")
    export_cache_mb: int = setting(
        256,
        env="STREAMER_EXPORT_CACHE_MB",
        lo=0,
        hi=1_048_576,
        help="frame cache for exports (MB), apart from the viewers' cache so that an export never evicts their frames",
    )
    url_mode: str = setting(
        "server",
        env="STREAMER_URL_MODE",
        choices=URL_MODES,
        fallback=_url_mode_default,
        shown_default="public with S3_BASE_URL, else server",
        help="where viewers fetch frames",
    )
    presign_expires_s: int = setting(
        3600, env="STREAMER_PRESIGN_EXPIRES_S", lo=60, hi=604_800, help="presigned URL lifetime (s)"
    )
    s3_connect_timeout_ms: int = setting(
        2000, env="STREAMER_S3_CONNECT_TIMEOUT_MS", lo=10, hi=120_000, help="S3 connect timeout (ms)"
    )
    s3_read_timeout_ms: int = setting(
        5000, env="STREAMER_S3_READ_TIMEOUT_MS", lo=10, hi=300_000, help="S3 read timeout (ms)"
    )
    s3_max_attempts: int = setting(3, env="STREAMER_S3_MAX_ATTEMPTS", lo=1, hi=10, help="attempts per S3 request")
    store_concurrency: int = setting(
        16, env="STREAMER_STORE_CONCURRENCY", lo=1, hi=1024, help="frame store reads at once"
    )
    prefetch: bool = setting(True, env="STREAMER_PREFETCH", help="fetch a program's frames before they are due")
    # Speech and emotions (docs/speech.md).
    openai_api_key: str | None = setting(
        None, env="OPENAI_API_KEY", secret=True, help="OpenAI emotion planning and Whisper"
    )
    openai_base_url: str | None = setting(None, env="OPENAI_BASE_URL", help="OpenAI API URL (default the SDK's)")
    elevenlabs_api_key: str | None = setting(
        None, env="ELEVENLABS_API_KEY", secret=True, help="ElevenLabs speech and forced alignment"
    )
    elevenlabs_base_url: str | None = setting(None, env="ELEVENLABS_BASE_URL", help="ElevenLabs API URL")
    openai_model: str = setting(DEFAULT_OPENAI_MODEL, env="STREAMER_OPENAI_MODEL", help="chat model for emotion plans")
    openai_timeout_ms: int = setting(
        15_000, env="STREAMER_OPENAI_TIMEOUT_MS", lo=100, hi=600_000, help="each OpenAI attempt's timeout (Whisper 4x)"
    )
    openai_max_retries: int = setting(
        1, env="STREAMER_OPENAI_MAX_RETRIES", lo=0, hi=10, help="retries after a failed OpenAI call"
    )
    elevenlabs_voice: str = setting(
        DEFAULT_ELEVENLABS_VOICE, env="STREAMER_ELEVENLABS_VOICE", help="ElevenLabs voice id"
    )
    elevenlabs_model: str = setting(
        DEFAULT_ELEVENLABS_MODEL, env="STREAMER_ELEVENLABS_MODEL", help="ElevenLabs TTS model"
    )
    elevenlabs_timeout_ms: int = setting(
        60_000, env="STREAMER_ELEVENLABS_TIMEOUT_MS", lo=100, hi=600_000, help="each ElevenLabs attempt's timeout"
    )
    elevenlabs_max_retries: int = setting(
        2, env="STREAMER_ELEVENLABS_MAX_RETRIES", lo=0, hi=10, help="retries after a failed ElevenLabs call"
    )
    emotions: str = setting(
        "auto",
        env="STREAMER_EMOTIONS",
        choices=EMOTION_PROVIDERS,
        help="who plans faces (auto: OpenAI when its key is set)",
    )
    # Video export jobs (docs/export.md; with REDIS_URL on a queue for `streamer worker`, docs/scaling.md).
    export_workers: int = setting(1, env="STREAMER_EXPORT_WORKERS", lo=1, hi=64, help="exports rendering at once")
    export_max_queued: int = setting(
        4, env="STREAMER_EXPORT_MAX_QUEUED", lo=0, hi=10_000, help="exports waiting; more get 429"
    )
    export_max_s: int = setting(600, env="STREAMER_EXPORT_MAX_S", lo=1, hi=86_400, help="longest export (s)")
    export_ttl_s: int = setting(
        3600, env="STREAMER_EXPORT_TTL_S", lo=1, hi=30 * 86_400, help="finished exports kept (s)"
    )
    export_webhook_hosts: tuple[str, ...] = setting(
        (), env="STREAMER_EXPORT_WEBHOOK_HOSTS", parse=_hosts, help="hosts export webhooks may call (comma-separated)"
    )
    export_lease_s: int = setting(
        10,
        env="STREAMER_EXPORT_LEASE_S",
        lo=1,
        hi=3600,
        help="with REDIS_URL: a dead `streamer worker`'s export is retried this long after its last sign of life (s)",
    )
    export_timeout_s: int = setting(
        3600,
        env="STREAMER_EXPORT_TIMEOUT_S",
        lo=10,
        hi=86_400,
        help="with REDIS_URL: an export still rendering after this long is stopped and failed (s)",
    )

    def __post_init__(self) -> None:
        for f, var in declared():
            value = getattr(self, f.name)
            if var.lo is not None and var.hi is not None and not _integer_in(value, var.lo, var.hi):
                raise ConfigError(f"{f.name}: must be an integer in [{var.lo}, {var.hi}], got {value!r}")
            if var.choices and value not in var.choices:
                raise ConfigError(f"{var.env}: must be one of {', '.join(var.choices)}, got {value!r}")
        if not self.host:
            raise ConfigError("host: must not be empty")
        if self.token is not None and not self.token:
            raise ConfigError("STREAMER_TOKEN: must not be empty when set")
        if self.workers > 1 and self.redis_url is None:
            raise ConfigError(
                f"STREAMER_WORKERS: {self.workers} processes cannot share channels without REDIS_URL "
                "(set it, or run one worker)"
            )
        if self.use_s3 and not self.s3_bucket:
            raise ConfigError("S3_BUCKET: is required when USE_S3 is true")
        if self.url_mode == "public" and not self.s3_base_url:
            raise ConfigError("STREAMER_URL_MODE: 'public' needs S3_BASE_URL (the bucket's public or CDN URL)")
        if self.url_mode == "presigned" and not self.use_s3:
            raise ConfigError("STREAMER_URL_MODE: 'presigned' needs USE_S3=true")
        if self.emotions == "openai" and not self.openai_api_key:
            raise ConfigError("STREAMER_EMOTIONS: 'openai' needs OPENAI_API_KEY")
        if self.rigs_s3 is not None:
            if not self.use_s3:
                raise ConfigError("STREAMER_RIGS_DIR: an s3:// location needs USE_S3=true")
            if self.rigs_s3[0] != self.s3_bucket:
                raise ConfigError(
                    f"STREAMER_RIGS_DIR: rigs on S3 must be in S3_BUCKET {self.s3_bucket!r}, got {self.rigs_s3[0]!r}"
                )

    @property
    def data_s3(self) -> tuple[str, str] | None:
        """``(bucket, prefix)`` of ``data_url`` (prefix ``""`` or ending in ``/``), None when unset."""
        if self.data_url is None:
            return None
        bucket, _, prefix = self.data_url.removeprefix("s3://").partition("/")
        prefix = prefix.strip("/")
        return bucket, prefix + "/" if prefix else ""

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
        """Settings from ``env`` (default ``os.environ``); raises :class:`ConfigError` for bad values."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for f, var in declared():
            name = var.override if var.override and env.get(var.override, "").strip() else var.env
            raw = env.get(name)
            if raw is not None and (raw.strip() or var.keep_empty):
                values[f.name] = _parse(f, var, name, raw.strip())
            elif var.fallback is not None:
                values[f.name] = var.fallback(env)
        return cls(**values)

    def replace(self, **changes: Any) -> Settings:
        """A copy with ``changes`` applied (and validated), for CLI flags and tests."""
        try:
            return dataclasses.replace(self, **changes)
        except TypeError as exc:
            raise ConfigError(f"settings: {exc}") from None


def declared() -> list[tuple[dataclasses.Field[Any], Var]]:
    return [(f, f.metadata["var"]) for f in dataclasses.fields(Settings)]


_TYPES: dict[str, Any] = {}


def field_type(f: dataclasses.Field[Any]) -> Any:
    """The field's type, with ``X | None`` read as ``X``."""
    if not _TYPES:
        _TYPES.update(typing.get_type_hints(Settings))
    kind = _TYPES[f.name]
    args = [a for a in typing.get_args(kind) if a is not type(None)]
    return args[0] if typing.get_origin(kind) is not tuple and args else kind


def _parse(f: dataclasses.Field[Any], var: Var, name: str, raw: str) -> Any:
    """The value of variable ``name`` for field ``f``; errors name the variable."""
    try:
        return parse_value(f, var, raw)
    except ConfigError as exc:
        raise ConfigError(f"{name}: {exc}") from None


def parse_value(f: dataclasses.Field[Any], var: Var, raw: str) -> Any:
    kind = field_type(f)
    if var.parse is not None:
        return var.parse(raw)
    if kind is bool:
        if raw.lower() in _TRUE:
            return True
        if raw.lower() in _FALSE:
            return False
        raise ConfigError(f"must be true or false, got {raw!r}")
    if kind is int:
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(f"must be an integer, got {raw!r}") from None
        if var.lo is not None and var.hi is not None and not var.lo <= value <= var.hi:
            raise ConfigError(f"must be in [{var.lo}, {var.hi}], got {value}")
        return value
    if kind is Path:
        return Path(raw)
    return raw.lower() if var.choices else raw


def flag_names(f: dataclasses.Field[Any], var: Var) -> tuple[str, ...]:
    if var.secret:
        return ()
    return var.flags if var.flags is not None else ("--" + f.name.replace("_", "-"),)


def env_names(var: Var) -> str:
    return f"{var.override} or {var.env}" if var.override else var.env


def shown_default(f: dataclasses.Field[Any], var: Var) -> str:
    if var.shown_default is not None:
        return var.shown_default
    value = f.default
    if isinstance(value, tuple):
        return ",".join(value) or "none"
    if isinstance(value, Path):
        return f"the project's {value.relative_to(PACKAGE_ROOT)}/" if value.is_relative_to(PACKAGE_ROOT) else str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return "unset" if value is None else str(value)


DOC_HEADER = """# Configuration

Every setting is an environment variable; `streamer serve` also takes each one as a flag, which
wins over the variable. Secrets (the token and the API keys) are environment-only, because a
process's arguments are visible to every user of the machine. Every value is checked at start-up:
a bad one stops the server with one line naming the variable and the value.

This page is generated from the declarations in `streamer/settings.py`
(`python -m streamer.settings > docs/configuration.md`); a test keeps the two in step.

"""


def markdown_doc() -> str:
    """``docs/configuration.md``: every setting, from its declaration."""
    rows = ["| Variable | `serve` flag | Default | Meaning |", "|---|---|---|---|"]
    for f, var in declared():
        env = " or ".join(f"`{name}`" for name in env_names(var).split(" or "))
        flags = ", ".join(f"`{n}`" for n in flag_names(f, var)) or "(environment only)"
        bounds = f" ({var.lo}–{var.hi})" if var.lo is not None else ""
        choices = f" (one of {', '.join(var.choices)})" if var.choices else ""
        rows.append(f"| {env} | {flags} | {shown_default(f, var)} | {var.help}{bounds}{choices} |")
    return DOC_HEADER + "\n".join(rows) + "\n"


if __name__ == "__main__":
    print(markdown_doc(), end="")
