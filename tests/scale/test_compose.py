"""docker-compose.yml, the Dockerfile and deploy/nginx.conf: the deployment docs/scaling.md describes.

Docker is not run here: the compose file is loaded and checked against the Procfile, the
Dockerfile and the nginx config. The nginx config itself is checked by a real nginx (``nginx -t``),
then started on a loopback port in front of two real server processes sharing Redis.
"""

from __future__ import annotations

import asyncio
import json
import re
import shlex
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from websockets.asyncio.client import connect

from tests.browser.conftest import in_ci
from tests.reliability.conftest import ServerProcess, free_port
from tests.scale.conftest import Cluster
from tests.server.conftest import REPO
from tests.server.test_metrics import Scrape, read_until

TIMEOUT = 20
NGINX_CONF = REPO / "deploy" / "nginx.conf"
STREAMER_SERVICES = ("web1", "web2", "worker")


def compose() -> dict[str, Any]:
    doc = yaml.safe_load((REPO / "docker-compose.yml").read_text(encoding="utf-8"))
    assert isinstance(doc, dict)
    return doc


def procfile() -> dict[str, str]:
    lines = (REPO / "Procfile").read_text(encoding="utf-8").splitlines()
    return dict(line.split(": ", 1) for line in lines if line.strip())


def command(service: dict[str, Any]) -> list[str]:
    raw = service["command"]
    return list(raw) if isinstance(raw, list) else shlex.split(raw)


def upstreams(conf: str) -> list[str]:
    """``host:port`` of each server of the ``streamer`` upstream."""
    block = re.search(r"upstream streamer \{(.*?)\}", conf, re.S)
    assert block is not None, "no upstream streamer block"
    return re.findall(r"^\s*server\s+(\S+?)[\s;]", block.group(1), re.M)


def test_compose_runs_the_procfiles_commands_on_redis_with_one_data_volume() -> None:
    services = compose()["services"]
    assert set(services) == {"redis", "web1", "web2", "worker", "lb"}
    port = "8000"
    web = procfile()["web"].replace("$PORT", port).split()
    for name in ("web1", "web2"):
        assert command(services[name])[: len(web)] == web, name  # the Procfile's, plus --proxy-headers
        assert "--proxy-headers" in command(services[name])  # the server sees the client's scheme behind nginx
    assert command(services["worker"]) == procfile()["worker"].split()
    redis_port = "6379"
    assert "redis-server" in command(services["redis"])
    volumes = set()
    for name in STREAMER_SERVICES:
        service = services[name]
        env = service["environment"]
        assert env["REDIS_URL"] == f"redis://redis:{redis_port}/0", name
        assert "STREAMER_TOKEN" in env and ":?" in env["STREAMER_TOKEN"], "the token is required, not defaulted"
        (mount,) = service["volumes"]
        volume, target = mount.split(":")[:2]
        assert target == env["STREAMER_DATA_DIR"], name
        volumes.add(volume)
        assert service["depends_on"]["redis"]["condition"] == "service_healthy"
        assert service["build"] == "."
    assert len(volumes) == 1 and volumes <= set(compose()["volumes"]), "one data volume, shared"

    # The load balancer: one published port, onto the port nginx listens on, in front of both servers.
    lb = services["lb"]
    (published,) = lb["ports"]
    host_port, _, lb_port = published.rpartition(":")
    assert host_port.endswith("8000}") and lb_port == "8080"
    assert "./deploy/nginx.conf:/etc/nginx/nginx.conf:ro" in lb["volumes"]
    conf = NGINX_CONF.read_text(encoding="utf-8")
    assert re.search(rf"^\s*listen {lb_port};", conf, re.M)
    assert upstreams(conf) == [f"web1:{port}", f"web2:{port}"]
    assert set(lb["depends_on"]) == {"web1", "web2"}

    # The image's default command is the web one, on the same port.
    dockerfile = (REPO / "Dockerfile").read_text(encoding="utf-8")
    cmd = re.search(r"^CMD (\[.*\])$", dockerfile, re.M)
    assert cmd is not None and json.loads(cmd.group(1))[: len(web)] == web
    assert re.search(rf"^EXPOSE {port}$", dockerfile, re.M)


def nginx_binary() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if found is None:
        reason = "nginx is not installed (apt-get install -y nginx; .ci/run does)"
        if in_ci():
            pytest.fail(f"{reason}, and CI is set: a CI run must not skip it")
        pytest.skip(reason)
    return found


class Nginx:
    """deploy/nginx.conf, its servers and port moved to loopback, run from a folder of its own."""

    def __init__(self, workdir: Path, servers: list[ServerProcess]) -> None:
        self.binary, self.workdir, self.port = nginx_binary(), workdir, free_port()
        conf = NGINX_CONF.read_text(encoding="utf-8")
        for name, server in zip(("web1", "web2"), servers, strict=True):
            conf = conf.replace(f"server {name}:8000", f"server 127.0.0.1:{server.port}")
        conf = conf.replace("listen 8080;", f"listen 127.0.0.1:{self.port};")
        conf = conf.replace("/var/log/nginx/access.log", str(workdir / "access.log"))
        for temp in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):  # not in the system's folders
            conf = conf.replace("http {", f"http {{\n    {temp}_temp_path {workdir / temp};", 1)
        self.conf = workdir / "nginx.conf"
        self.conf.write_text(conf, encoding="utf-8")
        self.globals = f"daemon off; pid {workdir / 'nginx.pid'}; error_log {workdir / 'error.log'} info;"
        self.proc: subprocess.Popen[bytes] | None = None

    def argv(self, *extra: str) -> list[str]:
        return [self.binary, "-p", str(self.workdir), "-c", str(self.conf), "-g", self.globals, *extra]

    def check(self) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.argv("-t"), capture_output=True, text=True, timeout=30)

    def start(self) -> None:
        self.proc = subprocess.Popen(self.argv(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 15
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{self.port}/health", timeout=2)
                return
            except httpx.HTTPError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError((self.workdir / "error.log").read_text()[-2000:]) from None
                time.sleep(0.1)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(15)


@pytest.fixture
def nginx(cluster: Cluster, tmp_path: Path) -> Iterator[Nginx]:
    servers = cluster.start(2)
    workdir = tmp_path / "nginx"
    workdir.mkdir()
    running = Nginx(workdir, servers)
    yield running
    running.stop()


async def test_nginx_proxies_websockets_and_requests_to_both_servers(nginx: Nginx, cluster: Cluster) -> None:
    checked = nginx.check()
    assert checked.returncode == 0, checked.stderr
    assert "syntax is ok" in checked.stderr and "test is successful" in checked.stderr
    nginx.start()
    base = f"http://127.0.0.1:{nginx.port}"
    ws = f"ws://127.0.0.1:{nginx.port}/ws?channel=main"
    async with (
        connect(ws) as v1,
        connect(ws) as v2,
        connect(ws) as v3,
        connect(ws + "&role=controller", additional_headers={"Origin": base}) as ctl,  # the page's own origin
    ):
        viewers = (v1, v2, v3)
        for viewer in (*viewers, ctl):
            await read_until(viewer, "hello", [])
        await ctl.send(json.dumps({"type": "set", "id": 1, "expr": "happy_soft"}))
        ack = await read_until(ctl, "ack", [])
        assert ack["ok"] is True
        states = [await read_until(viewer, "state", []) for viewer in viewers]
        assert {s["expr"] for s in states} == {"happy_soft"} and len({s["t_ms"] for s in states}) == 1

        # least_conn spread the four sockets over both servers; one scrape through nginx shows both.
        deadline = time.monotonic() + TIMEOUT
        while True:
            scrape = Scrape(base)
            per_process = {
                s.labels["process"]: s.value
                for s in scrape.families["streamer_viewers"].samples
                if s.labels["role"] == "viewer"
            }
            if len(per_process) == 2 and sum(per_process.values()) == 3 and min(per_process.values()) >= 1:
                break
            assert time.monotonic() < deadline, per_process
            await asyncio.sleep(0.2)

    # Plain requests, kept-alive to the servers: frames, and a body through (no request buffering).
    with httpx.Client(base_url=base, timeout=TIMEOUT) as client:
        frame = client.get("/frames/endpoints/neutral__center.png")
        assert frame.status_code == 200 and frame.content.startswith(b"\x89PNG")
        timeline = {"version": 1, "tracks": {"emotion": [{"t_ms": 0, "expr": "happy_soft"}]}, "duration_ms": 600}
        assert client.post("/timelines/validate", json=timeline).json()["ok"] is True
        # A server gone: nginx sends requests to the other one.
        cluster.servers[0].kill()
        assert all(client.get("/health").status_code == 200 for _ in range(4))
