"""Settings from the environment: names kept from face_rig, values checked, secrets hidden."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import pytest

from streamer.settings import ConfigError, Settings, add_flags, from_flags, markdown_doc


def test_defaults() -> None:
    s = Settings.from_env({})
    assert (s.host, s.port, s.token, s.cors_origins) == ("127.0.0.1", 8000, None, ("*",))
    assert (s.max_upload_mb, s.max_audio_s, s.max_channels) == (25, 600, 64)
    assert (s.lookahead_ms, s.batch_ms, s.viewer_queue) == (1500, 250, 256)
    assert s.data_dir == Path.cwd() / "data"
    assert (s.use_s3, s.s3_region, s.s3_prefix) == (False, "us-east-1", "frames/")


def test_reads_every_variable() -> None:
    env = {
        "STREAMER_FRAMES_DIR": "/rig",
        "STREAMER_DATA_DIR": "/data",
        "STREAMER_HOST": "0.0.0.0",
        "STREAMER_PORT": "9000",
        "STREAMER_TOKEN": "tok",
        "CORS_ORIGINS": "https://a.example, https://b.example/",
        "STREAMER_MAX_UPLOAD_MB": "5",
        "STREAMER_MAX_AUDIO_S": "60",
        "STREAMER_MAX_CHANNELS": "3",
        "STREAMER_LOOKAHEAD_MS": "2000",
        "STREAMER_BATCH_MS": "100",
        "STREAMER_VIEWER_QUEUE": "32",
        "USE_S3": "true",
        "S3_BUCKET": "bucket",
        "S3_REGION": "eu-west-1",
        "S3_PREFIX": "pip/",
        "S3_BASE_URL": "https://cdn.example",
        "S3_ENDPOINT_URL": "http://127.0.0.1:5000",
        "OPENAI_API_KEY": "sk-x",
        "OPENAI_BASE_URL": "http://127.0.0.1:1",
        "ELEVENLABS_API_KEY": "el-x",
        "ELEVENLABS_BASE_URL": "http://127.0.0.1:2",
    }
    s = Settings.from_env(env)
    assert s.frames_dir == Path("/rig") and s.data_dir == Path("/data")
    assert (s.host, s.port, s.token) == ("0.0.0.0", 9000, "tok")
    assert s.cors_origins == ("https://a.example", "https://b.example")
    assert (s.max_upload_mb, s.max_audio_s, s.max_channels, s.lookahead_ms, s.batch_ms, s.viewer_queue) == (
        5,
        60,
        3,
        2000,
        100,
        32,
    )
    assert (s.use_s3, s.s3_bucket, s.s3_region, s.s3_prefix) == (True, "bucket", "eu-west-1", "pip/")
    assert (s.s3_base_url, s.s3_endpoint_url) == ("https://cdn.example", "http://127.0.0.1:5000")
    assert (s.openai_api_key, s.openai_base_url) == ("sk-x", "http://127.0.0.1:1")
    assert (s.elevenlabs_api_key, s.elevenlabs_base_url) == ("el-x", "http://127.0.0.1:2")


def test_platform_port_wins() -> None:
    assert Settings.from_env({"PORT": "5000", "STREAMER_PORT": "6000"}).port == 5000
    assert Settings.from_env({"STREAMER_PORT": "6000"}).port == 6000


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"PORT": "eighty"}, "PORT"),
        ({"STREAMER_PORT": "70000"}, "STREAMER_PORT"),
        ({"STREAMER_MAX_UPLOAD_MB": "0"}, "STREAMER_MAX_UPLOAD_MB"),
        ({"STREAMER_LOOKAHEAD_MS": "1.5"}, "STREAMER_LOOKAHEAD_MS"),
        ({"USE_S3": "maybe"}, "USE_S3"),
        ({"USE_S3": "1"}, "S3_BUCKET"),
        ({"CORS_ORIGINS": "studio.example"}, "CORS_ORIGINS"),
        ({"CORS_ORIGINS": " , "}, "CORS_ORIGINS"),
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        Settings.from_env(env)


def test_secrets_are_not_in_repr() -> None:
    s = Settings.from_env({"STREAMER_TOKEN": "tok-123", "OPENAI_API_KEY": "sk-456", "ELEVENLABS_API_KEY": "el-789"})
    text = repr(s)
    assert "tok-123" not in text and "sk-456" not in text and "el-789" not in text


def test_replace_validates() -> None:
    s = Settings.from_env({})
    assert s.replace(port=1234).port == 1234
    with pytest.raises(ConfigError, match="port"):
        s.replace(port=-1)
    with pytest.raises(ConfigError, match="no_such_field"):
        s.replace(no_such_field=1)


def test_the_configuration_page_is_generated_from_the_declarations() -> None:
    page = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert page == markdown_doc(), "run: python -m streamer.settings > docs/configuration.md"
    for f in dataclasses.fields(Settings):
        assert f"`{f.metadata['var'].env}`" in page


def test_every_setting_but_the_secrets_is_a_serve_flag(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    add_flags(parser)
    args = parser.parse_args(
        [
            "--rig",
            str(tmp_path),
            "--port",
            "9001",
            "--no-prefetch",
            "--url-mode",
            "SERVER",
            "--cors-origins",
            "https://a.example/",
        ]
    )
    s = from_flags(args, {"STREAMER_PORT": "9000", "STREAMER_MAX_CHANNELS": "7"})
    assert (s.frames_dir, s.port, s.prefetch, s.url_mode, s.max_channels) == (tmp_path, 9001, False, "server", 7)
    assert s.cors_origins == ("https://a.example",)
    flags = {a.dest for a in parser._actions}
    secrets = {"token", "openai_api_key", "elevenlabs_api_key", "redis_url"}
    assert {"setting_" + f.name for f in dataclasses.fields(Settings)} - flags == {"setting_" + n for n in secrets}
    with pytest.raises(SystemExit):
        parser.parse_args(["--max-channels", "0"])
