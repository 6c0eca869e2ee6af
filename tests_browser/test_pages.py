"""What a reader sees on every page, offline: math rendered, nothing from another host, figures large
enough to read, no empty widget, and no page wider than a phone's screen.

The figure rule: a figure saved at ``dpi`` dots per inch and ``n`` pixels wide is ``n / dpi`` inches
wide; shown ``w`` CSS pixels wide, its text of ``s`` points shows at ``s / 72 * w / (n / dpi)`` CSS
pixels. The book's style (``rssm.style``) draws no text under ``SMALLEST_FONT`` points, so every
notebook figure (PNG outputs and the players' frames) must show at ``72 * 9 / SMALLEST_FONT`` pixels
per figure inch or more, at a laptop's 1280-pixel window.
"""

from __future__ import annotations

import base64
import struct
from urllib.parse import unquote, urlparse

import pytest
from conftest import SITE, TIMEOUT_S, open_page
from selenium.webdriver.support.ui import WebDriverWait
from test_players import toc_pages

from rssm.style import SMALLEST_FONT

MIN_TEXT_PX = 9  # CSS pixels: the smallest text a figure may show
LAPTOP, PHONE = (1280, 900), (390, 844)


def png_dpi(data: bytes) -> float | None:
    """The dots per inch a PNG records (its pHYs chunk), or None if it records none."""
    position = 8  # after the signature
    while position + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[position : position + 8])
        if kind == b"pHYs":
            per_metre, _, unit = struct.unpack(">IIB", data[position + 8 : position + 17])
            return per_metre * 0.0254 if unit == 1 else None
        if kind == b"IDAT":
            return None  # pHYs must come before the image data
        position += 12 + length
    return None


def image_bytes(src: str, page_url: str) -> bytes:
    """The bytes behind an <img src>: a data: URI, or a file of the built site."""
    if src.startswith("data:"):
        return base64.b64decode(src.split(",", 1)[1])
    path = unquote(urlparse(src).path).lstrip("/")
    return (SITE / path).read_bytes()


def wait_for_math(browser) -> None:
    """Wait until MathJax (if the page loads it) has typeset the page."""
    WebDriverWait(browser, TIMEOUT_S).until(lambda d: d.execute_script(
        "if (!window.MathJax) return true;"
        "if (!MathJax.startup || !MathJax.startup.promise) return false;"
        "if (!window.__mathDone) { MathJax.startup.promise.then(() => { window.__mathDone = true; }); }"
        "return window.__mathDone === true;"))


@pytest.fixture(scope="class")
def page(request, browser, site_url) -> str:
    """Open one page (the class's parameter) at a laptop's window size, with its math typeset."""
    browser.set_window_size(*LAPTOP)
    open_page(browser, f"{site_url}/{request.param}")
    wait_for_math(browser)
    return request.param


@pytest.mark.parametrize("page", toc_pages(), indirect=True, scope="class")
class TestWhatAReaderSees:
    def test_loads_nothing_from_another_host(self, browser, page):
        urls = browser.execute_script(
            "const found = [];"
            "for (const el of document.querySelectorAll('script[src], img[src], iframe[src], source[src]'))"
            "  found.push(el.src);"
            "for (const el of document.querySelectorAll('link[href]'))"
            "  if (/stylesheet|preload|icon|modulepreload/.test(el.rel)) found.push(el.href);"
            "for (const entry of performance.getEntriesByType('resource')) found.push(entry.name);"
            "return found;")
        remote = sorted({u for u in urls if urlparse(u).scheme in ("http", "https")
                         and urlparse(u).hostname not in ("127.0.0.1", "localhost")})
        assert not remote, f"{page} loads from other hosts: {remote}"

    def test_math_is_rendered(self, browser, page):
        text = browser.execute_script("return document.querySelector('article').innerText;")
        raw = [marker for marker in ("\\(", "\\[", "\\begin{", "$$") if marker in text]
        assert not raw, f"{page}: raw LaTeX {raw} in the text: the math was not typeset"
        sources = browser.execute_script("return document.querySelectorAll('article .math').length;")
        typeset = browser.execute_script("return document.querySelectorAll('article mjx-container').length;")
        assert typeset >= sources, f"{page}: {sources} formulas, {typeset} typeset"
        # The left sidebar lists every chapter's title on every page, also on pages that load no MathJax:
        # a title with math in it would show there as raw LaTeX.
        sidebar = browser.execute_script("const nav = document.querySelector('.bd-sidebar-primary');"
                                         "return nav ? nav.innerText : '';")
        assert sidebar, f"{page}: no sidebar found"
        raw = [line for line in sidebar.splitlines() if "\\(" in line or "$" in line]
        assert not raw, f"{page}: raw LaTeX in the sidebar: {raw}"

    def test_every_image_says_what_it_shows(self, browser, page):
        """Each image in the text has alt text, for a screen reader and for a page whose images fail to
        load: figures, diagrams, and the players' frame (rssm.players writes its panels' names)."""
        missing = browser.execute_script(
            "return [...document.querySelectorAll('article img')]"
            ".filter(img => !(img.getAttribute('alt') || '').trim())"
            ".map(img => (img.getAttribute('src') || img.id || 'an image').slice(0, 80));")
        assert not missing, f"{page}: {len(missing)} image(s) without alt text: {missing[:5]}"

    def test_no_widget_leaves_an_empty_area(self, browser, page):
        widgets = browser.execute_script(
            "return document.querySelectorAll("
            "'script[type=\"application/vnd.jupyter.widget-view+json\"], .jupyter-widgets').length;")
        assert widgets == 0, f"{page}: {widgets} live widget(s), which stay empty without a kernel"
        empty = browser.execute_script(
            "return [...document.querySelectorAll('article .cell_output > .output')]"
            ".filter(o => o.getBoundingClientRect().height < 4).length;")
        assert empty == 0, f"{page}: {empty} empty output area(s)"

    def test_every_figure_and_player_has_a_numbered_caption(self, browser, page):
        """Each notebook figure (an image output) and each player sits in a figure whose caption has a
        number ("Fig. 12") and a sentence, so that the prose and a reader can cite it."""
        missing = browser.execute_script(
            "const captioned = el => {"
            "  for (let f = el.closest('figure'); f; f = f.parentElement && f.parentElement.closest('figure')) {"
            "    const caption = f.querySelector(':scope > figcaption');"
            "    const number = caption && caption.querySelector('.caption-number');"
            "    if (number && /\\d/.test(number.textContent)"
            "        && caption.textContent.length > number.textContent.length + 20) return true;"
            "  }"
            "  return false;"
            "};"
            "const images = [...document.querySelectorAll('article .cell_output img')]"
            "  .filter(img => !img.closest('.rssm-player'));"
            "const players = [...document.querySelectorAll('article .rssm-player, article #rssm-play')];"
            "return [...images, ...players].filter(el => !captioned(el))"
            "  .map(el => el.tagName === 'IMG' ? el.src.slice(0, 80) : 'a player');")
        assert not missing, f"{page}: {len(missing)} figure(s) without a numbered caption: {missing[:5]}"

    def test_figures_show_their_text_at_9_px_or_more(self, browser, page):
        images = browser.execute_script(
            "return [...document.querySelectorAll('article .cell_output img')]"
            ".filter(img => img.src.includes('png') && img.getBoundingClientRect().width > 0)"
            ".map(img => [img.src, img.naturalWidth, img.getBoundingClientRect().width]);")
        needed = 72 * MIN_TEXT_PX / SMALLEST_FONT  # pixels per figure inch
        too_small = []
        for src, natural, shown in images:
            dpi = png_dpi(image_bytes(src, browser.current_url))
            assert dpi, f"{page}: a figure records no dpi ({src[:80]})"
            per_inch = shown / (natural / dpi)
            if per_inch < needed - 0.5:
                too_small.append(f"{src[:60]}: {per_inch:.0f} px per inch, {SMALLEST_FONT} pt text at "
                                 f"{SMALLEST_FONT * per_inch / 72:.1f} px")
        assert not too_small, f"{page}: figures too small to read:\n" + "\n".join(too_small)


@pytest.mark.parametrize("page_path", toc_pages())
def test_no_page_is_wider_than_a_phone(browser, site_url, page_path):
    browser.set_window_size(*PHONE)
    try:
        open_page(browser, f"{site_url}/{page_path}")
        wait_for_math(browser)
        width, screen = browser.execute_script(
            "return [document.documentElement.scrollWidth, document.documentElement.clientWidth];")
        if width > screen + 1:
            culprits = browser.execute_script(
                "const w = document.documentElement.clientWidth;"
                "return [...document.querySelectorAll('article *')]"
                ".filter(e => e.getBoundingClientRect().right > w + 1)"
                ".slice(0, 5).map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right));")
            pytest.fail(f"{page_path} is {width - screen} px wider than a {screen} px screen: {culprits}")
    finally:
        browser.set_window_size(*LAPTOP)
