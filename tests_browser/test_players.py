"""Browser tests of the built book: what a reader sees in Chromium, with no Jupyter kernel.

The site is served from ``_build/html`` by a local HTTP server on 127.0.0.1 and opened in headless
Chromium through chromedriver (Debian's ``chromium`` and ``chromium-driver`` packages). Build the
book first (``make book``, or ``.venv/bin/jupyter-book build .``); ``make test`` does both.

Chromium is told that every host except 127.0.0.1 does not exist, so the run is the same with or
without a network; the site loads nothing from another host (test_pages.py checks it), so no console
error is forgiven.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml
from conftest import ROOT, SITE, TIMEOUT_S, open_page  # the server and the browser are fixtures there
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

PLAYER_PAGE = "book/01_moving_dot_data.html"  # the first chapter shows the first animation player


def toc_pages() -> list[str]:
    """Every page in _toc.yml, as a path relative to the site root (``book/intro.html``, ...)."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]
    for entry in toc.get("chapters", []) + [c for part in toc.get("parts", []) for c in part["chapters"]]:
        files.append(entry["file"])
    return [f"{Path(f).with_suffix('')}.html" for f in files]


def notebook_pages() -> list[str]:
    """The pages built from notebooks (Sphinx keeps their sources in _sources/): these have launch buttons."""
    return [page for page in toc_pages() if (SITE / "_sources" / page).with_suffix(".ipynb").is_file()]


def repository_url() -> str:
    return yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"].rstrip("/")


@dataclass
class LoadedPage:
    page: str  # relative to the site root, e.g. "book/intro.html"
    url: str
    console: list[dict]  # what the page logged to the console while it loaded


@pytest.fixture(scope="class")
def loaded(request, browser, site_url) -> LoadedPage:
    """Open one page (the class's parameter) once for all the checks on it, recording its console."""
    page = request.param
    browser.get_log("browser")  # drop what earlier pages logged
    open_page(browser, f"{site_url}/{page}")
    return LoadedPage(page, browser.current_url, browser.get_log("browser"))


def test_every_toc_page_was_built():
    missing = [page for page in toc_pages() if not (SITE / page).is_file()]
    assert not missing, f"pages in _toc.yml missing from {SITE}: {missing}"


@pytest.mark.parametrize("loaded", toc_pages(), indirect=True, scope="class")
class TestEveryPage:
    """Each page of the table of contents, as a reader opens it."""

    def test_loads_without_console_errors(self, loaded):
        errors = [e for e in loaded.console if e["level"] == "SEVERE"]
        assert not errors, f"{loaded.page}: JavaScript console errors:\n" + "\n".join(e["message"] for e in errors)

    def test_notebook_page_has_a_colab_launch_button(self, browser, loaded):
        if loaded.page not in notebook_pages():
            pytest.skip("not built from a notebook: nothing to launch")
        if browser.current_url != loaded.url:
            open_page(browser, loaded.url)
        notebook = Path(loaded.page).with_suffix(".ipynb").as_posix()
        expected = f"https://colab.research.google.com/github/{urlparse(repository_url()).path.strip('/')}/blob/"
        links = [
            a.get_attribute("href")
            for a in browser.find_elements(By.CSS_SELECTOR, "a[href*='colab.research.google.com']")
        ]
        assert any(href.startswith(expected) and href.endswith(notebook) for href in links), (
            f"{loaded.page}: no Colab launch link to {expected}<branch>/{notebook}; found {links}"
        )

    def test_has_a_search_box(self, browser, loaded):
        if browser.current_url != loaded.url:
            open_page(browser, loaded.url)
        buttons = [
            b for b in browser.find_elements(By.CSS_SELECTOR, "button.search-button__button") if b.is_displayed()
        ]
        assert buttons, f"{loaded.page}: no visible search button"
        buttons[0].click()
        field = WebDriverWait(browser, TIMEOUT_S).until(
            lambda d: next(
                (f for f in d.find_elements(By.CSS_SELECTOR, "form.bd-search input[name='q']") if f.is_displayed()),
                None,
            )
        )
        assert field.get_attribute("type") == "search"


def test_search_finds_the_rssm(browser, site_url):
    """The search index is built and loads offline: searching a word the intro uses finds pages."""
    open_page(browser, f"{site_url}/search.html?q=posterior")
    results = WebDriverWait(browser, TIMEOUT_S).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, "#search-results ul.search li")
    )
    assert results


def test_animation_player_slider_changes_the_frame(browser, site_url):
    """The first matplotlib to_jshtml player on chapter 1: moving its slider shows another frame."""
    open_page(browser, f"{site_url}/{PLAYER_PAGE}")
    sliders = browser.find_elements(By.CSS_SELECTOR, "div.animation input.anim-slider[type='range']")
    assert sliders, f"{PLAYER_PAGE}: no matplotlib animation player (input.anim-slider) on the page"
    slider = sliders[0]
    uid = slider.get_attribute("id").removeprefix("_anim_slider")
    image = browser.find_element(By.ID, f"_anim_img{uid}")
    WebDriverWait(browser, TIMEOUT_S).until(lambda d: (image.get_attribute("src") or "").startswith("data:image"))

    num_frames = int(slider.get_attribute("max")) + 1
    assert num_frames >= 2, "the player has a single frame: nothing to scrub"
    first_src = image.get_attribute("src")
    target = num_frames - 1
    # What a drag does: the slider's value changes and it fires an input event.
    browser.execute_script(
        "arguments[0].value = arguments[1];"
        "arguments[0].dispatchEvent(new Event('input', {bubbles: true}));"
        "arguments[0].dispatchEvent(new Event('change', {bubbles: true}));",
        slider,
        target,
    )
    new_src = image.get_attribute("src")
    if new_src == first_src:  # (not `assert`: pytest would print both base64 images in full)
        pytest.fail(f"moving the slider to frame {target} did not change the displayed frame")
    expected = browser.execute_script(f"return window['anim{uid}'].frames[arguments[0]].src;", target)
    if new_src != expected:
        pytest.fail(f"the slider was moved to frame {target} but the player shows another frame")

    # The step buttons drive the same player.
    browser.find_element(By.CSS_SELECTOR, f"button[onclick='anim{uid}.first_frame()']").click()
    if image.get_attribute("src") != first_src:
        pytest.fail("the 'First frame' button did not bring back the first frame")
    assert int(slider.get_attribute("value")) == 0, "the slider did not follow the 'First frame' button"
