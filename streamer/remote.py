"""Talking to a running ``streamer serve`` over HTTP, for the CLI (I/O, blocking, standard library only).

``play_on_server`` uploads a timeline's audio and the timeline, plays it on a channel and
reports how many viewers the channel has. Every failure is a :class:`StreamerError` whose
message is one readable line (the server's own ``error`` text when it answered).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from streamer.core.errors import StreamerError

TIMEOUT_S = 30
AUDIO_TYPES = {
    ".ogg": "audio/ogg",
    ".opus": "audio/ogg",
    ".wav": "audio/wav",
    ".mp3": "audio/mpeg",
    ".m4a": "audio/mp4",
    ".flac": "audio/flac",
}


def http_json(method: str, url: str, body: bytes | None, content_type: str, token: str | None) -> Any:
    """One request to a streamer server; its JSON answer, or a :class:`StreamerError` with its message."""
    headers = {"Content-Type": content_type, "Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=body, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            return json.loads(response.read() or b"null")
    except ValueError as exc:
        raise StreamerError(f"{method} {url}: the answer is not JSON: {exc}") from None
    except urllib.error.HTTPError as exc:
        detail = exc.read()[:2000].decode("utf-8", "replace")
        try:
            parsed = json.loads(detail)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict) and isinstance(parsed.get("error"), str):
            detail = parsed["error"]
        hint = " (set STREAMER_TOKEN)" if exc.code == 401 else ""
        raise StreamerError(f"{method} {url}: {exc.code} {detail}{hint}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise StreamerError(f"cannot reach the server at {url}: {reason}") from None


def upload_audio(server: str, data: bytes, filename: str, token: str | None) -> str:
    """``POST /audio``; the stored audio's id."""
    content_type = AUDIO_TYPES.get(Path(filename).suffix.lower(), "application/octet-stream")
    info = http_json("POST", f"{server}/audio?{urlencode({'filename': filename})}", data, content_type, token)
    return str(info["id"])


def store_timeline(server: str, document: Any, name: str | None, token: str | None) -> str:
    """``POST /timelines`` (a new id made from ``name``); the stored timeline's id."""
    query = f"?{urlencode({'name': name})}" if name else ""
    body = json.dumps(document).encode("utf-8")
    return str(http_json("POST", f"{server}/timelines{query}", body, "application/json", token)["id"])


def play(server: str, channel: str, body: dict[str, Any], token: str | None) -> dict[str, Any]:
    """``POST /channels/{channel}/play``; the program object."""
    url = f"{server}/channels/{quote(channel, safe='')}/play"
    result = http_json("POST", url, json.dumps(body).encode("utf-8"), "application/json", token)
    return result if isinstance(result, dict) else {}


def timeline_exists(server: str, timeline_id: str) -> bool:
    """Whether the server stores a timeline ``timeline_id`` (``GET /timelines/{id}`` answers 200, not 404)."""
    try:
        http_json("GET", f"{server}/timelines/{quote(timeline_id, safe='')}", None, "application/json", None)
    except StreamerError as exc:
        if ": 404 " in str(exc):
            return False
        raise
    return True


def record(server: str, channel: str, body: dict[str, Any], token: str | None) -> dict[str, Any]:
    """``POST /channels/{channel}/record`` (``{"action": "start"}`` or ``"stop"``); its result."""
    url = f"{server}/channels/{quote(channel, safe='')}/record"
    result = http_json("POST", url, json.dumps(body).encode("utf-8"), "application/json", token)
    return result if isinstance(result, dict) else {}


def viewers(server: str, channel: str) -> int:
    """How many viewers (and controllers) are connected to ``channel`` now."""
    described = http_json("GET", f"{server}/channels/{quote(channel, safe='')}", None, "application/json", None)
    return int(described.get("viewers", 0)) if isinstance(described, dict) else 0


def audience(count: int, channel: str, server: str) -> tuple[str, bool]:
    """A line saying who is watching ``channel``, and whether it is a warning (nobody is)."""
    if count == 0:
        return (
            f"nobody is watching channel {channel!r}: open {server}/client/obs.html?channel={quote(channel)} "
            "or check the channel name",
            True,
        )
    return f"{count} viewer{'s' if count != 1 else ''} on channel {channel!r}", False


@dataclass(frozen=True)
class Played:
    """What ``play_on_server`` did."""

    timeline_id: str
    name: str
    audio_id: str | None
    program: dict[str, Any]
    viewers: int


def play_on_server(
    timeline_path: Path, document: Any, audio_path: Path | None, server: str, channel: str, token: str | None
) -> Played:
    """Upload ``audio_path`` (as the document's ``audio.id``) and ``document``, then play it on ``channel``.

    The document is stored under a new id named after its ``name`` or the file's name; its
    ``audio.id`` is rewritten to the id the server gave the upload.
    """
    audio_id = None
    if audio_path is not None:
        audio_id = upload_audio(server, audio_path.read_bytes(), audio_path.name, token)
        document = dict(document, audio=dict(document["audio"], id=audio_id))
    own_name = document.get("name") if isinstance(document, dict) else None
    name = own_name if isinstance(own_name, str) and own_name.strip() else timeline_path.name
    timeline_id = store_timeline(server, document, None if own_name == name else name, token)
    program = play(server, channel, {"timeline_id": timeline_id}, token)
    return Played(timeline_id, name, audio_id, program, viewers(server, channel))
