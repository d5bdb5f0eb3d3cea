"""Health, readiness, the rig description, the static client and CORS, over real HTTP."""

from __future__ import annotations

from pathlib import Path

import httpx

from streamer.core.rig import Rig
from tests.server.conftest import LiveServer, MakeServer


def test_health_reports_ok_with_version_rig_and_channels(client: httpx.Client, rig: Rig) -> None:
    r = client.get("/health")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok"
    assert body["rig"] == rig.config.name
    assert isinstance(body["version"], str)
    assert body["channels"] >= 1  # "main" always exists


def test_ready_when_rig_loaded_and_data_dir_writable(client: httpx.Client) -> None:
    r = client.get("/ready")
    assert r.status_code == 200
    assert r.json() == {"status": "ready"}


def test_ready_is_503_when_the_data_dir_is_gone(server: LiveServer) -> None:
    import shutil

    shutil.rmtree(server.settings.data_dir)
    with server.client() as c:
        r = c.get("/ready")
    assert r.status_code == 503
    assert "not writable" in r.json()["problems"][0]


def test_rig_lists_expressions_with_axes_poses_and_sequences(client: httpx.Client, rig: Rig) -> None:
    body = client.get("/rig").json()
    assert body["name"] == rig.config.name
    assert body["poses"] == list(rig.poses)
    assert set(body["expressions"]) == set(rig.expressions)
    assert body["expressions"]["neutral"] == dict(rig.expressions["neutral"])
    assert set(body["axes"]) == set(rig.config.axes)
    assert len(body["sequences"]) == len(rig.sequences)
    seq = body["sequences"][0]
    assert set(seq) == {"id", "start", "end", "frames"}
    assert seq["frames"] == len(rig.sequences[seq["id"]].frames)
    assert set(seq["start"]) == {"expr", "pose"}
    if rig.config.size:
        assert body["size"] == list(rig.config.size)


def test_root_redirects_to_the_preview_page(client: httpx.Client) -> None:
    r = client.get("/", follow_redirects=False)
    assert r.status_code in (302, 307)
    assert r.headers["location"] == "/client/preview.html"


def test_client_folder_is_served_and_missing_files_are_json_404(make_server: MakeServer, tmp_path: Path) -> None:
    client_dir = tmp_path / "client"
    client_dir.mkdir()
    (client_dir / "preview.html").write_text("<!doctype html><title>preview</title>")
    server = make_server(client_dir=client_dir)
    with server.client() as c:
        page = c.get("/client/preview.html")
        assert page.status_code == 200
        assert "text/html" in page.headers["content-type"]
        missing = c.get("/client/nope.js")
        assert missing.status_code == 404
        assert "error" in missing.json()


def test_a_missing_client_folder_is_a_404_not_a_crash(make_server: MakeServer, tmp_path: Path) -> None:
    server = make_server(client_dir=tmp_path / "absent")
    with server.client() as c:
        assert c.get("/client/preview.html").status_code == 404
        assert c.get("/health").status_code == 200


def test_unknown_route_and_wrong_method_answer_json(client: httpx.Client) -> None:
    r = client.get("/no/such/thing")
    assert r.status_code == 404
    assert r.json()["error"] == "not found: /no/such/thing"
    r = client.patch("/timelines")
    assert r.status_code == 405
    assert "PATCH" in r.json()["error"]


def test_cors_header_for_an_allowed_origin(make_server: MakeServer) -> None:
    server = make_server(cors_origins=("https://studio.example",))
    with server.client() as c:
        allowed = c.get("/health", headers={"Origin": "https://studio.example"})
        assert allowed.headers["access-control-allow-origin"] == "https://studio.example"
        other = c.get("/health", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers
        preflight = c.options(
            "/timelines",
            headers={
                "Origin": "https://studio.example",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, content-type",
            },
        )
        assert preflight.status_code == 200
        assert "authorization" in preflight.headers["access-control-allow-headers"].lower()


def test_cors_wildcard_by_default(client: httpx.Client) -> None:
    r = client.get("/health", headers={"Origin": "https://anywhere.example"})
    assert r.headers["access-control-allow-origin"] == "*"


def test_security_headers_on_responses(client: httpx.Client) -> None:
    r = client.get("/health")
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "no-referrer"
