"""The REST reference is the server: every route documented, every documented route served, answers valid."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate as validate_spec
from starlette.routing import Mount, Route, WebSocketRoute

from streamer.core.commands import COMMANDS
from streamer.export.formats import FORMATS
from streamer.server.reference import markdown, openapi
from tests.server.conftest import REPO, LiveServer, wav_bytes

DOC = openapi()
METHODS = {"get", "post", "put", "delete", "head"}


def served_operations(server: LiveServer) -> set[tuple[str, str]]:
    """``(method, path template)`` for every HTTP route of the real app (HEAD-for-GET left out)."""
    found: set[tuple[str, str]] = set()
    for route in server.app.routes:
        if isinstance(route, Mount):
            found.add(("get", route.path + "/{path}"))
        elif isinstance(route, Route):
            path = re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path)
            paths = [path.replace("{command}", c) for c in COMMANDS] if "{command}" in path else [path]
            for method in route.methods or ():
                if method != "HEAD":  # Starlette adds HEAD to every GET route
                    found.update((method.lower(), p) for p in paths)
        else:
            assert isinstance(route, WebSocketRoute), f"unexpected route type {route!r}"
    return found


def documented_operations() -> set[tuple[str, str]]:
    return {(m, path) for path, item in DOC["paths"].items() for m in item if m in METHODS and m != "head"}


def test_the_document_is_valid_openapi() -> None:
    validate_spec(DOC)


def test_every_route_is_documented_and_every_documented_route_is_served(server: LiveServer) -> None:
    served, documented = served_operations(server), documented_operations()
    assert served - documented == set(), "routes missing from streamer/server/reference/"
    assert documented - served == set(), "documented routes the app does not serve"
    websockets = {r.path for r in server.app.routes if isinstance(r, WebSocketRoute)}
    protocol = (REPO / "docs" / "protocol.md").read_text(encoding="utf-8")
    for path in websockets:
        assert f"ws://HOST:PORT{path}?" in protocol, f"WebSocket route {path} is not in docs/protocol.md"


def test_the_generated_docs_are_up_to_date() -> None:
    hint = "regenerate with: python -m streamer.server.reference"
    assert json.loads((REPO / "docs" / "openapi.json").read_text(encoding="utf-8")) == DOC, hint
    assert (REPO / "docs" / "rest.md").read_text(encoding="utf-8") == markdown(), hint


def test_the_server_serves_its_document(client: httpx.Client) -> None:
    assert client.get("/openapi.json").json() == json.loads(json.dumps(DOC))


def test_rest_routes_named_in_the_protocol_doc_exist() -> None:
    protocol = (REPO / "docs" / "protocol.md").read_text(encoding="utf-8")
    named = set(re.findall(r"`(GET|POST|PUT|DELETE) (/[^`\s]+)`", protocol))
    assert named, "docs/protocol.md names no REST routes"
    for method, path in named:
        assert method.lower() in DOC["paths"].get(path.split("?")[0], {}), f"{method} {path} is not a route"


class Checker:
    """Calls the server and checks each answer's status and JSON body against the document."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client
        self.checked: set[tuple[str, str]] = set()

    def __call__(self, method: str, template: str, expect: int, path: str | None = None, **kwargs: Any) -> Any:
        response = self.client.request(method, path or template, **kwargs)
        assert response.status_code == expect, f"{method} {path or template}: {response.status_code} {response.text}"
        operation = DOC["paths"][template][method.lower()]
        documented = operation["responses"].get(str(expect))
        assert documented is not None, f"{method} {template}: status {expect} is not documented"
        content = documented.get("content", {})
        if "application/json" in content:
            schema = {"components": DOC["components"], **content["application/json"]["schema"]}
            errors = sorted(Draft202012Validator(schema).iter_errors(response.json()), key=str)
            assert not errors, f"{method} {template} {expect}: {errors[0].message} at {list(errors[0].path)}"
        else:
            media = response.headers.get("content-type", "").split(";")[0]
            assert not content or any(m == media or m.endswith("/*") for m in content), (template, media)
        self.checked.add((method.lower(), template))
        return response.json() if "json" in response.headers.get("content-type", "") else response


def test_answers_match_the_documented_schemas(server: LiveServer) -> None:
    timeline = {"version": 1, "tracks": {"emotion": [{"t_ms": 0, "expr": "happy_soft"}]}, "duration_ms": 600}
    with server.client(timeout=60) as client:
        call = Checker(client)
        call("GET", "/", 307, follow_redirects=False)
        call("GET", "/director", 307, follow_redirects=False)
        call("GET", "/client/{path}", 200, "/client/preview.html")
        call("GET", "/client/{path}", 404, "/client/nope.js")
        call("GET", "/openapi.json", 200)
        call("GET", "/health", 200)
        call("GET", "/ready", 200)
        call("GET", "/metrics", 200)
        call("GET", "/metrics.json", 200)
        call("GET", "/rig", 200)
        call("GET", "/rigs", 200)
        call("GET", "/rigs/{id}", 200, "/rigs/default")
        call("GET", "/rigs/{id}", 404, "/rigs/nope")
        call("GET", "/frames/{key}", 200, "/frames/endpoints/neutral__center.png")
        call("GET", "/frames/{key}", 404, "/frames/endpoints/nope.png")
        audio = call("POST", "/audio", 201, content=wav_bytes(300), headers={"Content-Type": "audio/wav"})
        call("POST", "/audio", 422, content=b"not audio", headers={"Content-Type": "audio/wav"})
        call("GET", "/audio/{id}", 200, f"/audio/{audio['id']}")
        with_audio = dict(timeline, audio={"id": audio["id"]})
        created = call("POST", "/timelines", 201, json=with_audio, params={"name": "Reference test"})
        call("POST", "/timelines", 409, params={"id": created["id"]}, json=timeline)
        call("POST", "/timelines", 422, json={"version": 2})
        call("GET", "/timelines", 200)
        call("POST", "/timelines/validate", 200, json=timeline)
        call("POST", "/timelines/schedule", 200, json=timeline)
        call("POST", "/timelines/schedule", 422, json={"version": 1, "tracks": {"emotion": [{"t_ms": 0, "expr": "x"}]}})
        one = f"/timelines/{created['id']}"
        call("GET", "/timelines/{id}", 200, one)
        call("GET", "/timelines/{id}", 404, "/timelines/nope")
        call("PUT", "/timelines/{id}", 200, "/timelines/ref", json=timeline)
        call("PUT", "/timelines/{id}", 412, "/timelines/ref", json=timeline, headers={"If-Match": '"old"'})
        call("GET", "/timelines/{id}/schedule", 200, one + "/schedule", params={"fps": "24"})
        call("GET", "/timelines/{id}/captions.srt", 200, "/timelines/hello/captions.srt")
        call("GET", "/timelines/{id}/captions.vtt", 200, "/timelines/hello/captions.vtt")
        call("GET", "/timelines/{id}/lipsync.json", 200, "/timelines/hello/lipsync.json")
        call("POST", "/channels/{name}/play", 200, "/channels/ref/play", json={"timeline_id": created["id"]})
        call("GET", "/channels/{name}", 200, "/channels/ref")
        call("GET", "/channels/{name}", 404, "/channels/never-used")
        call("POST", "/channels/{name}/set", 200, "/channels/ref/set", json={"expr": "neutral"})
        call("POST", "/channels/{name}/set", 200, "/channels/ref/set", json={"rig": "default"})
        call("POST", "/channels/{name}/set", 400, "/channels/ref/set", json={"rig": "nope"})
        call("POST", "/channels/{name}/stop", 200, "/channels/ref/stop")
        call("POST", "/channels/{name}/say", 200, "/channels/ref/say", json={"text": "Hi.", "stream": "ref-1"})
        call("POST", "/channels/{name}/say", 400, "/channels/ref/say", json={"text": 3})
        call("POST", "/channels/{name}/interrupt", 200, "/channels/ref/interrupt")
        call("POST", "/channels/{name}/react", 200, "/channels/ref/react", json={"reaction": "nod"})
        call("POST", "/channels/{name}/react", 400, "/channels/ref/react", json={"reaction": "wave"})
        call("POST", "/channels/{name}/record", 409, "/channels/ref/record", json={"action": "stop"})
        call("POST", "/channels/{name}/record", 200, "/channels/ref/record", json={"action": "start"})
        call("POST", "/channels/{name}/record", 200, "/channels/ref/record", json={"action": "stop"})
        call("POST", "/channels/{name}/play", 404, "/channels/ref/play", json={"timeline_id": "nope"})
        formats = call("GET", "/exports/formats", 200)
        assert [f["name"] for f in formats] == list(FORMATS)
        job = call("POST", "/exports", 202, json={"timeline_id": "ref", "options": {"fps": 12, "quality": "draft"}})
        for _ in range(300):
            job = call("GET", "/exports/{id}", 200, f"/exports/{job['id']}")
            if job["status"] not in ("queued", "running"):
                break
            time.sleep(0.1)
        assert job["status"] == "done", job
        call("GET", "/exports/{id}/file", 200, job["file"])
        call("DELETE", "/exports/{id}", 204, f"/exports/{job['id']}")
        call("GET", "/exports/{id}", 404, f"/exports/{job['id']}")
        said = call("POST", "/speech", 201, json={"text": "Hello there."})
        assert {t["id"]: t["name"] for t in client.get("/timelines").json()}[said["timeline_id"]] == "Hello there."
        call("POST", "/speech", 400, json={"text": ""})
        voices = call("GET", "/speech/voices", 200)
        assert any("en-us" in v["languages"] for v in voices)
        call("POST", "/emotions", 200, json={"words": [{"t_ms": 0, "end_ms": 300, "text": "great"}]})
        aligned = call("POST", "/align", 201, files={"audio": ("take one.wav", wav_bytes(600), "audio/wav")})
        assert {t["id"]: t["name"] for t in client.get("/timelines").json()}[aligned["timeline_id"]] == "take one.wav"
        call("DELETE", "/timelines/{id}", 204, "/timelines/ref")
    assert call.checked == documented_operations(), "operations this test does not call"


@pytest.mark.parametrize("path", ["/timelines/{id}", "/timelines"])
def test_writes_document_the_token(path: str) -> None:
    for method, operation in DOC["paths"][path].items():
        if method in ("post", "put", "delete"):
            assert {"401", "403"} <= set(operation["responses"]), (method, path)
