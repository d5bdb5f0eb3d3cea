"""The control token and the Origin check, on real requests and as helpers."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from starlette.requests import Request

from streamer.server.security import (
    Forbidden,
    Unauthorized,
    check_write_origin,
    install_log_redaction,
    origin_allowed,
    presented_token,
    require_token,
    token_ok,
    write_origin_allowed,
)
from streamer.settings import Settings
from tests.server.conftest import LiveServer, wav_bytes

TOKEN = "s3cret-tok\u00e9n"
DOC = {"version": 1, "tracks": {}, "duration_ms": 500}


@pytest.fixture
def guarded(make_server: Callable[..., LiveServer]) -> LiveServer:
    return make_server(token=TOKEN)


def test_writes_need_the_token(guarded: LiveServer) -> None:
    with guarded.client() as c:
        r = c.put("/timelines/a", json=DOC)
        assert r.status_code == 401
        assert r.headers["www-authenticate"] == "Bearer"
        assert "token" in r.json()["error"]
        assert c.put("/timelines/a", json=DOC, headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert c.post("/audio", content=wav_bytes(100)).status_code == 401
        assert c.delete("/timelines/hello").status_code == 401
        assert c.get("/timelines/a").status_code == 404  # nothing was written


def test_bearer_header_and_query_token_both_work(guarded: LiveServer) -> None:
    with guarded.client() as c:
        r = c.put("/timelines/a", json=DOC, headers=[(b"authorization", f"Bearer {TOKEN}".encode())])
        assert r.status_code == 200
        r = c.post("/timelines", params={"token": TOKEN}, json=DOC)
        assert r.status_code == 201
        r = c.post("/audio", params={"token": TOKEN}, content=wav_bytes(100))
        assert r.status_code == 201
        assert c.delete("/timelines/a", headers=[(b"authorization", f"bearer {TOKEN}".encode())]).status_code == 204


def test_reads_need_no_token(guarded: LiveServer) -> None:
    with guarded.client() as c:
        for url in ("/health", "/ready", "/rig", "/timelines"):
            assert c.get(url).status_code == 200, url
        assert c.post("/timelines/validate", json=DOC).status_code == 200


def test_the_token_is_never_logged(guarded: LiveServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    with guarded.client() as c:
        c.put("/timelines/a", json=DOC, params={"token": "wrong-guess"})
        c.put("/timelines/b", json=DOC, params={"token": TOKEN})
    server_log = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith(("streamer", "uvicorn")))
    assert "rejected PUT /timelines/a: 401" in server_log
    assert TOKEN not in server_log and "wrong-guess" not in server_log
    assert TOKEN not in repr(guarded.settings)


def test_log_records_of_any_logger_lose_query_tokens_and_the_configured_token() -> None:
    install_log_redaction("p@ss-w0rd")
    try:
        record = logging.getLogger("uvicorn.error").makeRecord(
            "uvicorn.error",
            logging.DEBUG,
            __file__,
            1,
            '%s - "WebSocket %s" [accepted]',
            ("127.0.0.1:5", "/ws?role=controller&token=abc%20d&y=2"),
            None,
        )
        assert "abc" not in record.getMessage()
        assert "/ws?role=controller&token=***&y=2" in record.getMessage()
        echoed = logging.getLogger("x").makeRecord("x", logging.INFO, __file__, 1, "got %r", ("p@ss-w0rd",), None)
        assert "p@ss-w0rd" not in echoed.getMessage()
    finally:
        install_log_redaction(None)


def test_uvicorn_access_lines_are_still_formatted_with_the_token_redacted() -> None:
    from uvicorn.logging import AccessFormatter

    install_log_redaction("p@ss-w0rd")
    try:
        formatter = AccessFormatter('%(client_addr)s - "%(request_line)s" %(status_code)s', use_colors=False)
        logged = {"/health": "/health", "/timelines/a?token=p@ss-w0rd&x=1": "/timelines/a?token=***&x=1"}
        for path, shown in logged.items():
            args = ("127.0.0.1:5", "PUT", path, "1.1", 200)
            record = logging.getLogger("uvicorn.access").makeRecord(
                "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d', args, None
            )
            assert formatter.format(record) == f'127.0.0.1:5 - "PUT {shown} HTTP/1.1" 200 OK'
    finally:
        install_log_redaction(None)


def test_writes_from_a_disallowed_origin_are_403(make_server: Callable[..., LiveServer]) -> None:
    server = make_server(cors_origins=("https://studio.example",))
    with server.client() as c:
        r = c.put("/timelines/a", json=DOC, headers={"Origin": "https://evil.example"})
        assert r.status_code == 403
        assert "evil.example" in r.json()["error"]
        assert c.put("/timelines/a", json=DOC, headers={"Origin": "https://studio.example"}).status_code == 200
        assert c.put("/timelines/b", json=DOC).status_code == 200  # no Origin: a bot


def _request(headers: dict[str, str] | None = None, query: str = "") -> Request:
    raw = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    scope: dict[str, Any] = {"type": "http", "method": "GET", "path": "/", "query_string": query.encode()}
    scope["headers"] = raw
    return Request(scope)


def _settings(**kw: Any) -> Settings:
    return Settings.from_env({}).replace(**kw)


def test_token_helpers() -> None:
    open_settings, locked = _settings(), _settings(token="abc")
    assert token_ok(_request(), open_settings)
    require_token(_request(), open_settings)
    assert not token_ok(_request(), locked)
    assert token_ok(_request({"Authorization": "Bearer abc"}), locked)
    assert token_ok(_request(query="token=abc"), locked)
    assert not token_ok(_request({"Authorization": "Basic abc"}), locked)
    assert presented_token(_request({"Authorization": "Bearer  abc "})) == "abc"
    with pytest.raises(Unauthorized, match="requires a token"):
        require_token(_request(), locked)
    with pytest.raises(Unauthorized, match="invalid token"):
        require_token(_request(query="token=abd"), locked)


def test_origin_helpers() -> None:
    any_origin = _settings()
    listed = _settings(cors_origins=("https://a.example", "http://localhost:3000"))
    assert origin_allowed({"origin": "https://x.example"}, any_origin)
    assert origin_allowed({}, listed)
    assert origin_allowed({"origin": "https://A.example"}, listed)
    assert origin_allowed({"origin": "http://localhost:3000"}, listed)
    assert not origin_allowed({"origin": "http://localhost:3001"}, listed)
    assert not origin_allowed({"origin": "null"}, listed)


def test_writes_come_only_from_the_own_origin_or_a_listed_one() -> None:
    any_origin = _settings()
    listed = _settings(cors_origins=("*", "https://studio.example"))
    own = {"origin": "http://127.0.0.1:8000", "host": "127.0.0.1:8000"}
    assert write_origin_allowed({}, any_origin)  # curl, bots, OBS
    assert write_origin_allowed(own, any_origin)
    assert write_origin_allowed({"origin": "https://Studio.example/", "host": "x"}, listed)
    for foreign in ("http://localhost:8000", "http://127.0.0.1:8001", "null", "https://evil.example"):
        assert not write_origin_allowed({"origin": foreign, "host": "127.0.0.1:8000"}, listed), foreign
    with pytest.raises(Forbidden, match="evil.example.*CORS_ORIGINS"):
        check_write_origin({"origin": "https://evil.example", "host": "127.0.0.1:8000"}, any_origin)


def test_http_client_sees_401_not_a_crash_for_a_non_ascii_token(guarded: LiveServer) -> None:
    with httpx.Client(base_url=guarded.base_url) as c:
        r = c.put("/timelines/a", json=DOC, headers=[(b"authorization", "Bearer \u00e9t\u00e9".encode())])
    assert r.status_code == 401
