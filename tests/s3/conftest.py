"""S3 tests: a real moto S3 server on loopback, a fault-injecting HTTP proxy in front of it, and
the app under uvicorn reading its frames through that proxy. Nothing is patched."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
from moto.server import ThreadedMotoServer

from streamer.cli import main as cli_main
from streamer.s3 import S3Options, s3_client
from streamer.server.app import create_app
from streamer.settings import Settings
from tests.server.conftest import REPO, LiveServer, ServerThread, serve, write_png_rig

T = TypeVar("T")

SLOWDOWN_BODY = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
    b"<Message>Please reduce your request rate.</Message><RequestId>proxy</RequestId></Error>"
)


@pytest.fixture(scope="session", autouse=True)
def aws_env() -> Iterator[None]:
    """Dummy credentials for moto; the settings object never reads them, botocore does."""
    saved = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")}
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1")
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one access-log line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def s3_run(endpoint_url: str, bucket: str, action: Callable[[Any], Awaitable[T]]) -> T:
    """Run ``action(client)`` with a fresh aiobotocore client (test set-up and checks)."""

    async def go() -> T:
        async with s3_client(S3Options(bucket=bucket, endpoint_url=endpoint_url)) as client:
            return await action(client)

    return asyncio.run(go())


def new_bucket(moto_url: str) -> str:
    name = f"streamer-test-{uuid.uuid4().hex[:12]}"
    s3_run(moto_url, name, lambda c: c.create_bucket(Bucket=name))
    return name


@pytest.fixture(scope="session")
def small_rig(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_png_rig(tmp_path_factory.mktemp("s3rig") / "frames")


@pytest.fixture(scope="session")
def filled_bucket(moto_url: str, small_rig: Path) -> str:
    """A bucket holding ``small_rig`` under ``frames/``, put there by ``streamer upload``."""
    bucket = new_bucket(moto_url)
    code = cli_main(["upload", str(small_rig), "--bucket", bucket, "--endpoint-url", moto_url, "-q"])
    assert code == 0
    return bucket


# -- the fault-injecting proxy ---------------------------------------------------------------


@dataclass
class FaultProxy:
    """An HTTP/1.1 proxy to ``upstream`` that can add latency, refuse, cut, truncate, hang or throttle.

    ``mode``: ``pass``, ``cut`` (close without answering), ``cut_body`` (send headers and half the
    body of object GETs, then close), ``hang`` (never answer), ``slowdown`` (answer S3's 503
    SlowDown itself). :meth:`refuse` closes the listening socket (connections are refused) and
    :meth:`accept` opens it again on the same port. ``requests`` logs ``(method, path)``.
    """

    upstream: tuple[str, int]
    mode: str = "pass"
    latency_s: float = 0.0
    fault_paths: str = ".png"  # faults apply only to paths ending with this
    requests: list[tuple[str, str]] = field(default_factory=list)
    port: int = 0
    faults_left: int | None = None  # None: every matching request; n: the next n, then pass

    def fault(self, mode: str, times: int | None = None) -> None:
        self.mode, self.faults_left = mode, times

    def __post_init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()
        self._call(self._listen())

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _call(self, coro: Awaitable[T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)  # type: ignore[arg-type]

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port, reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _unlisten(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._open):  # and drop kept-alive connections: nothing gets through
            writer.close()

    def refuse(self) -> None:
        self._call(self._unlisten())

    def accept(self) -> None:
        self._call(self._listen())

    def gets(self, suffix: str = ".png") -> int:
        """How many GET requests for paths ending with ``suffix`` went through."""
        return sum(1 for method, path in list(self.requests) if method == "GET" and path.endswith(suffix))

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._call(self._unlisten())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._open.add(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers = [line for line in lines[1:] if line]
                length = next((int(h.split(":", 1)[1]) for h in headers if h.lower().startswith("content-length:")), 0)
                body = await reader.readexactly(length) if length else b""
                path = target.split("?", 1)[0]
                self.requests.append((method, path))
                if self.latency_s:
                    await asyncio.sleep(self.latency_s)
                mode = self.mode if path.endswith(self.fault_paths) else "pass"
                faulty = mode != "pass"
                if faulty and self.faults_left is not None:
                    self.faults_left -= 1
                    if self.faults_left <= 0:
                        self.mode, self.faults_left = "pass", None
                if mode == "cut":
                    return
                if mode == "hang":
                    await asyncio.sleep(60)
                    return
                if mode == "slowdown":
                    writer.write(
                        b"HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\n"
                        + f"Content-Length: {len(SLOWDOWN_BODY)}\r\n\r\n".encode()
                        + SLOWDOWN_BODY
                    )
                    await writer.drain()
                    continue
                status_line, out_headers, payload = await self._forward(method, target, headers, body)
                response = status_line + "\r\n" + "".join(h + "\r\n" for h in out_headers) + "\r\n"
                if method == "HEAD":
                    payload = b""
                if mode == "cut_body" and method == "GET" and len(payload) > 1:
                    writer.write(response.encode("latin-1") + payload[: len(payload) // 2])
                    await writer.drain()
                    return
                writer.write(response.encode("latin-1") + payload)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            return
        finally:
            self._open.discard(writer)
            writer.close()

    async def _forward(self, method: str, target: str, headers: list[str], body: bytes) -> tuple[str, list[str], bytes]:
        # One HTTP/1.0 connection per request: no chunked replies, the body ends at EOF.
        reader, writer = await asyncio.open_connection(*self.upstream)
        kept = [h for h in headers if not h.lower().startswith(("connection:", "keep-alive:", "expect:"))]
        request = f"{method} {target} HTTP/1.0\r\n" + "".join(h + "\r\n" for h in kept) + "Connection: close\r\n\r\n"
        writer.write(request.encode("latin-1") + body)
        await writer.drain()
        raw = await reader.read()
        writer.close()
        head, _, payload = raw.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status_line = "HTTP/1.1 " + lines[0].split(" ", 1)[1]
        hop_by_hop = ("connection:", "keep-alive:", "transfer-encoding:")
        out = [h for h in lines[1:] if h and not h.lower().startswith(hop_by_hop)]
        if method != "HEAD":
            out = [h for h in out if not h.lower().startswith("content-length:")]
            out.append(f"Content-Length: {len(payload)}")
        return status_line, out, payload


@pytest.fixture
def proxy(moto_url: str) -> Iterator[FaultProxy]:
    host, port = moto_url.removeprefix("http://").split(":")
    p = FaultProxy((host, int(port)))
    yield p
    p.close()


# -- the app on S3 ---------------------------------------------------------------------------


@pytest.fixture
def s3_server(tmp_path: Path) -> Iterator[Callable[..., LiveServer]]:
    """Start the app with ``USE_S3`` and settings overrides (``s3_bucket``, ``s3_endpoint_url``...)."""
    running: list[ServerThread] = []

    def start(**overrides: Any) -> LiveServer:
        defaults: dict[str, Any] = {
            "frames_dir": tmp_path / "no-local-frames",
            "data_dir": tmp_path / "data",
            "examples_dir": REPO / "examples",
            "client_dir": REPO / "client",
            "use_s3": True,
            "s3_connect_timeout_ms": 500,
            "s3_read_timeout_ms": 1000,
            "s3_max_attempts": 2,
        }
        settings = Settings.from_env({}).replace(**{**defaults, **overrides})
        return serve(create_app(settings), running)

    yield start
    for thread in running:
        thread.stop()
