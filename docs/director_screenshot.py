"""Make the README's picture of the Director: ``python docs/director_screenshot.py [OUT.png]``.

Starts the real server on a loopback port with a scratch data folder (the examples are seeded
into it), opens ``/director?timeline=hello`` in headless Chromium at 1280x800, selects an
emotion item and moves the playhead, and writes ``docs/img/director.png``.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from streamer.settings import Settings  # noqa: E402
from tests.browser.conftest import CHROMIUM_ARGS, LiveServer, free_port  # noqa: E402

OUT = ROOT / "docs" / "img" / "director.png"


def main(out: Path = OUT) -> None:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as data:
        settings = Settings.from_env({"STREAMER_FRAMES_DIR": str(ROOT / "frames"), "STREAMER_DATA_DIR": data})
        server = LiveServer(settings, free_port())
        server.start()
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1280, "height": 800})
                page.goto(f"{server.url}/director?timeline=hello")
                page.wait_for_selector("body[data-ready='1']")
                page.wait_for_selector(".track-emotion .item")
                page.locator(".lane.track-emotion .item").first.click()
                page.evaluate("window.__director.seek(3200)")
                page.wait_for_function("window.__director.frameOnScreen() !== null")
                page.wait_for_timeout(400)
                out.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(out))
                browser.close()
        finally:
            server.stop()
    print(f"wrote {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT)
