"""What every browser test shares: the built site served on 127.0.0.1, and headless Chromium.

The site is served from ``_build/html`` (or ``$RSSM_BOOK_HTML``, to test a site built elsewhere) by a
local HTTP server on a free port of 127.0.0.1, and opened in headless Chromium through chromedriver
(Debian's ``chromium`` and ``chromium-driver`` packages). Chromium is told that every host except
127.0.0.1 does not exist, so a run is the same with or without a network. Both are session fixtures:
one server and one browser for all the browser tests.
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import tempfile
import threading
from pathlib import Path

import pytest
from selenium import webdriver  # in the dev extra: pip install -e ".[dev]"
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.support.ui import WebDriverWait

ROOT = Path(__file__).resolve().parents[1]
SITE = Path(os.environ.get("RSSM_BOOK_HTML", ROOT / "_build" / "html"))  # override to test a site built elsewhere


def _first_program(variable: str, candidates: tuple[str, ...]) -> Path:
    """$variable if set, else the first candidate that exists (an absolute path, or a name on PATH)."""
    if os.environ.get(variable):
        return Path(os.environ[variable])
    for candidate in candidates:
        found = shutil.which(candidate)
        if found:
            return Path(found)
    return Path(candidates[0])


# Looked up in the order scripts/ensure_browser.sh uses (make test runs it first).
CHROMIUM = _first_program("RSSM_CHROME", ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome"))
CHROMEDRIVER = _first_program("RSSM_CHROMEDRIVER", ("/usr/bin/chromedriver", "chromedriver"))
TIMEOUT_S = 60  # generous: the test machine may be busy


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args) -> None:  # keep pytest's output clean
        pass


@pytest.fixture(scope="session")
def site_url():
    """The built site, served on a free port of 127.0.0.1 for the whole session."""
    if not (SITE / "index.html").is_file():
        pytest.fail(
            f"no built book at {SITE}: build it first with `make book` "
            "(or `.venv/bin/jupyter-book build .`), then rerun the browser tests",
            pytrace=False,
        )
    handler = functools.partial(_QuietHandler, directory=str(SITE))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def browser():
    """Headless Chromium driven by chromedriver, with the console log recorded."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.is_file()]
    if missing:
        pytest.fail(f"missing {', '.join(missing)}: run scripts/ensure_browser.sh (make test does)", pytrace=False)
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    profile = tempfile.TemporaryDirectory(prefix="rssm-book-chromium-")
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        f"--user-data-dir={profile.name}",
        "--window-size=1280,1600",
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
    driver.set_page_load_timeout(3 * TIMEOUT_S)
    driver.set_script_timeout(TIMEOUT_S)
    yield driver
    driver.quit()
    profile.cleanup()


def open_page(browser, url: str) -> None:
    """Open ``url`` and wait until the page has loaded."""
    browser.get(url)
    WebDriverWait(browser, TIMEOUT_S).until(lambda d: d.execute_script("return document.readyState") == "complete")
