"""The preview's timeline list: human names, newest first, and new timelines appear without a reload."""

from __future__ import annotations

from typing import Any

from tests.browser.conftest import LiveServer

DOC = {"version": 1, "tracks": {"emotion": [{"t_ms": 0, "expr": "happy_soft"}]}, "duration_ms": 1500}
OPTIONS = "els => els.map(e => [e.value, e.textContent])"


def test_the_list_shows_names_newest_first_and_refreshes_itself(restartable_server: LiveServer, page: Any) -> None:
    server = restartable_server
    page.goto(f"{server.url}/client/preview.html?channel=list-test")
    page.wait_for_function("document.querySelectorAll('#timeline option[value]:not([value=\"\"])').length >= 2")
    options = page.eval_on_selector_all("#timeline option", OPTIONS)
    names = {value: text for value, text in options}
    assert names["hello"].startswith("hello.json · 4.6 s"), options
    assert names["face_rig_keyframes"].startswith("face_rig_keyframes.json"), options
    page.select_option("#timeline", "face_rig_keyframes")  # the user's choice survives refreshes

    created = server.post_json("/timelines?name=Good%20morning%2C%20chat", DOC)
    page.wait_for_function(
        "document.querySelector('#timeline option').textContent.startsWith('Good morning, chat')", timeout=12_000
    )
    options = page.eval_on_selector_all("#timeline option", OPTIONS)
    assert options[0] == [created["id"], "Good morning, chat · 1.5 s"]
    assert page.eval_on_selector("#timeline", "el => el.value") == "face_rig_keyframes"
    assert [value for value, _ in options] == [t["id"] for t in server.get_json("/timelines")]
    assert not page.problems, page.problems
