"""The preview's status panel shows what a user can act on: clock sync quality and round trip, raw numbers on hover."""

from __future__ import annotations

import re
from typing import Any

from tests.browser.conftest import LiveServer


def test_clock_sync_shows_its_quality_and_keeps_the_raw_offset_in_a_tooltip(live_server: LiveServer, page: Any) -> None:
    page.goto(f"{live_server.url}/client/preview.html?channel=status-test")
    page.wait_for_function("/^(good|fair|poor) · ±/.test(document.getElementById('s-clock').textContent)")
    labels = page.eval_on_selector_all("#stats dt", "els => els.map(e => e.textContent)")
    assert "Clock sync" in labels and "Clock offset" not in labels
    # Both read at once: a new ping sample may update them between two separate reads.
    text, rtt_text = page.evaluate("['s-clock', 's-rtt'].map((id) => document.getElementById(id).textContent)")
    match = re.fullmatch(r"(good|fair|poor) · ±([\d,.]+) ms", text)
    assert match, text
    rtt = float(rtt_text.removesuffix(" ms").replace(",", ""))
    assert abs(float(match.group(2).replace(",", "")) - rtt / 2) <= 1  # the bound is half the best round trip
    if rtt <= 2 * 21:  # a bound within half a frame at 24 fps
        assert match.group(1) == "good"
    tooltip = page.eval_on_selector("#s-clock", "el => el.title")
    assert "Raw offset:" in tooltip and re.search(r"Raw offset: -?[\d,]+ ms", tooltip), tooltip
    assert page.eval_on_selector("#s-rtt", "el => el.title")
    assert not page.problems, page.problems
