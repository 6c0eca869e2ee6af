"""The Play page in headless Chromium, offline: the reader steers the dot and the model runs in the page.

The page (book/play.md) runs the exported model with ONNX Runtime Web; every asset comes from the
built site. These tests drive it as a reader does (arrow keys, on-screen buttons) and through the
player object the page exposes (``window.rssmPlay``: ``reset(seed)``, ``step(action)``,
``snapshot()``, ``benchmark(n)``, ``selfCheck()``), with seeded worlds and actions so every run
sees the same worlds.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from conftest import ROOT, SITE, TIMEOUT_S, open_page
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

PAGE = "book/play.html"
K = 8  # frames the model watches after a new world before it dreams (manifest.json)
MAX_ASSET_BYTES = 20_000_000  # what a reader downloads for the player: runtime, graphs, scripts, episodes
OPEN_LOOP_H10_PX = 1.41  # the shipped checkpoint at horizon 10 (README; benchmarks/check_pretrained.py)

# Run a scripted session inside the page: for each world (seed), a new world, then `steps` frames with
# actions from a seeded generator (uniform in [-1, 1], as the training data), recording a snapshot per frame.
SCRIPTED_RUN = """
const [mode, seeds, steps, sample, done] = arguments;
(async () => {
  const player = window.rssmPlay;
  player.setMode(mode);
  player.setSample(sample);
  let state = 12345;
  const uniform = () => { state = (Math.imul(state, 1664525) + 1013904223) >>> 0; return state / 4294967296; };
  const runs = [];
  for (const seed of seeds) {
    await player.reset(seed);
    const frames = [];
    for (let t = 1; t <= steps; t++) {
      await player.step([2 * uniform() - 1, 2 * uniform() - 1]);
      frames.push(player.snapshot());
    }
    runs.push(frames);
  }
  return runs;
})().then(done, (error) => done({ error: String(error) }));
"""


def open_player(browser, site_url: str, query: str = "paused&seed=1") -> None:
    """Open the Play page and wait until the player is ready (or says why not)."""
    open_page(browser, f"{site_url}/{PAGE}?{query}")
    status = WebDriverWait(browser, TIMEOUT_S).until(
        lambda d: d.execute_script("return document.getElementById('rssm-play').dataset.status")
    )
    if status != "ready":
        text = browser.find_element(By.ID, "rssm-play").text
        pytest.fail(f"the player did not start ({status}): {text}", pytrace=False)


def scripted_run(browser, mode: str, seeds: list[int], steps: int, sample: bool = False) -> list[list[dict]]:
    browser.set_script_timeout(10 * TIMEOUT_S)
    runs = browser.execute_async_script(SCRIPTED_RUN, mode, seeds, steps, sample)
    if isinstance(runs, dict):
        pytest.fail(f"the scripted run failed in the page: {runs['error']}", pytrace=False)
    return runs


def snapshot(browser) -> dict:
    return browser.execute_script("return window.rssmPlay.snapshot()")


def canvases(browser) -> tuple[str, str]:
    """The true world's and the model's canvas, as PNG data URLs."""
    return tuple(browser.execute_script(
        "return Array.from(document.querySelectorAll('#rssm-play canvas')).map((c) => c.toDataURL())"
    ))


def press(browser, key: str) -> dict:
    """Press a key in the focused player and wait for the frame it causes; returns the new snapshot."""
    before = snapshot(browser)["t"]
    ActionChains(browser).send_keys(key).perform()
    WebDriverWait(browser, TIMEOUT_S).until(lambda d: snapshot(d)["t"] == before + 1)
    return snapshot(browser)


def expected_step(browser, state: dict, action: list[float]) -> dict:
    """The world's next state by the page's own world.js (tested against rssm.dataset in tests/)."""
    return browser.execute_async_script(
        "const [state, action, done] = arguments;"
        "import(new URL('../_static/play/world.js', location.href)).then((world) =>"
        " done(world.stepState(state, action, window.rssmPlay.worldConfig)));",
        state, action,
    )


def clear_of_occluders(frame: dict, margin: float = 1.0) -> bool:
    """The dot's centre is at least `margin` px outside every occluder: its bright half is all in sight."""
    x, y = frame["truth"]["x"], frame["truth"]["y"]
    return all(not (x0 - margin <= x <= x0 + w - 1 + margin and y0 - margin <= y <= y0 + h - 1 + margin)
               for x0, y0, w, h in frame["occluders"])


# ----- the page and its assets ------------------------------------------------------------------


def test_the_players_assets_are_on_the_site_and_small():
    folder = SITE / "_static" / "play"
    files = [p for p in folder.rglob("*") if p.is_file()]
    names = {p.relative_to(folder).as_posix() for p in files}
    for needed in ("page.js", "player.js", "world.js", "ort/ort.wasm.min.mjs", "ort/ort-wasm-simd-threaded.wasm",
                   "ort/LICENSE.txt", "model/manifest.json", "model/prior_step.onnx", "model/posterior_step.onnx",
                   "model/decoder.onnx", "model/reference.bin"):
        assert needed in names, f"_static/play/{needed} is missing from the built site"
    total = sum(p.stat().st_size for p in files)
    assert total <= MAX_ASSET_BYTES, f"the player's assets weigh {total / 1e6:.2f} MB, over {MAX_ASSET_BYTES / 1e6} MB"


def test_the_player_loads_everything_from_the_site(browser, site_url):
    open_player(browser, site_url)
    loaded = browser.execute_script("return performance.getEntriesByType('resource').map((e) => e.name)")
    player = [url for url in loaded if "/_static/play/" in url]
    assert any(url.endswith(".wasm") for url in player) and any(url.endswith(".onnx") for url in player)
    assert all(url.startswith(site_url) for url in player), player


def test_the_graphs_in_the_browser_reproduce_pytorch(browser, site_url):
    """The page replays the scripted 40-frame sequence through ONNX Runtime Web and compares with PyTorch."""
    open_player(browser, site_url, "selftest")
    raw = WebDriverWait(browser, 3 * TIMEOUT_S).until(
        lambda d: d.execute_script("return document.getElementById('rssm-play').dataset.selfcheck")
    )
    result = json.loads(raw)
    print(f"browser self-check: {result}")
    assert result["frames"] == 40
    assert result["watch"] <= 1e-4, f"watching: {result['watch']:.2e} per pixel from PyTorch"
    assert result["dream"] <= 1e-4, f"dreaming: {result['dream']:.2e} per pixel from PyTorch"
    assert result["world"] <= 1e-4 and result["positions"] <= 1e-4, f"the world: {result}"
    assert result["actor"] <= 1e-4, f"the actor: {result['actor']:.2e} from PyTorch's actions"
    assert result["ok"]
    assert "same numbers" in browser.find_element(By.CSS_SELECTOR, "[data-readout='selfcheck']").text


# ----- a reader at the keys ---------------------------------------------------------------------


def test_arrow_keys_move_the_world_and_the_models_dream(browser, site_url):
    open_player(browser, site_url, "paused&seed=3")
    browser.find_element(By.CSS_SELECTOR, "#rssm-play canvas").click()  # the player takes the keys
    assert browser.execute_script("return document.activeElement.id") == "rssm-play"
    start = snapshot(browser)
    assert start["t"] == 0 and start["mode"] == "dream" and not start["running"]

    truth, model = canvases(browser)
    after = press(browser, Keys.ARROW_RIGHT)
    assert after["truth"] == expected_step(browser, start["truth"], [1, 0]), "ArrowRight should push the dot right"
    new_truth, new_model = canvases(browser)
    assert new_truth != truth and new_model != model

    for t in range(2, K + 4):  # watched up to frame K-1, dreamed from frame K on
        truth, model = canvases(browser)
        before = snapshot(browser)
        after = press(browser, Keys.ARROW_DOWN)
        assert after["truth"] == expected_step(browser, before["truth"], [0, 1]), "ArrowDown should push the dot down"
        assert after["dreamed"] == max(0, t - K + 1), f"frame {t}: dreamed {after['dreamed']}"
        new_truth, new_model = canvases(browser)
        assert new_truth != truth, f"frame {t}: the true world did not change"
        assert new_model != model, f"frame {t}: the model's frame did not change"
    assert snapshot(browser)["dreamed"] == 4
    readout = browser.find_element(By.CSS_SELECTOR, "[data-readout='dreamed']").text
    assert readout == "dreamed 4 frames"


def test_on_screen_buttons_steer_and_switch(browser, site_url):
    open_player(browser, site_url, "paused&seed=4")
    start = snapshot(browser)
    browser.find_element(By.CSS_SELECTOR, "button[data-key='ArrowLeft']").click()
    WebDriverWait(browser, TIMEOUT_S).until(lambda d: snapshot(d)["t"] == 1)
    assert snapshot(browser)["truth"] == expected_step(browser, start["truth"], [-1, 0])

    watch = browser.find_element(By.CSS_SELECTOR, "button[data-control='watch']")
    watch.click()
    assert snapshot(browser)["mode"] == "watch" and watch.get_attribute("aria-pressed") == "true"
    sample = browser.find_element(By.CSS_SELECTOR, "button[data-control='sample']")
    sample.click()
    assert snapshot(browser)["sample"] and sample.get_attribute("aria-pressed") == "true"

    occluders = snapshot(browser)["occluders"]
    browser.find_element(By.CSS_SELECTOR, "button[data-control='reset']").click()
    WebDriverWait(browser, TIMEOUT_S).until(lambda d: snapshot(d)["t"] == 0)
    assert snapshot(browser)["occluders"] != occluders, "a new world should bring new occluders"

    play = browser.find_element(By.CSS_SELECTOR, "button[data-control='play']")
    play.click()
    WebDriverWait(browser, TIMEOUT_S).until(lambda d: snapshot(d)["t"] >= 3)  # it runs by itself
    play.click()
    assert not snapshot(browser)["running"]


# ----- what the model does ------------------------------------------------------------------------


def test_watching_the_model_tracks_the_true_dot_within_a_pixel(browser, site_url):
    """Watch mode: the posterior sees every frame, so the dot read off the model's frame is the true dot.

    Judged on 40 seeded worlds of 24 frames, from frame K on (the model has watched as many frames as
    dream mode gives it), wherever the dot's centre is at least 1 px clear of the occluders: there a
    dot whose edge is hidden would pull any read-out, the model's or not.
    """
    open_player(browser, site_url)
    runs = scripted_run(browser, "watch", list(range(100, 140)), 24)
    frames = [f for run in runs for f in run]
    assert all(f["dreamed"] == 0 for f in frames), "watch mode should never dream"
    visible = [f["distance"] for f in frames if f["visible"]]
    judged = [f["distance"] for f in frames if f["visible"] and f["t"] >= K and clear_of_occluders(f)]
    print(f"watch: mean {np.mean(visible):.3f} px over {len(visible)} visible frames; "
          f"max {max(judged):.3f} px over {len(judged)} frames clear of the occluders")
    assert len(judged) > 500
    assert max(judged) <= 1.0, f"the model's dot strayed {max(judged):.2f} px from the true one while watching"
    assert np.mean(visible) <= 0.3


def test_dreaming_ten_frames_drifts_as_far_as_the_checkpoint_reports(browser, site_url):
    """Dream mode: after K watched frames, 10 frames of the prior alone; the dot error at horizon 10.

    The checkpoint's figure is 1.41 px at horizon 10 (1,024 held-out sequences, visible frames). One
    world is noisy (errors range from 0 to several px), so this averages 96 seeded worlds driven by
    the training data's random actions. Nine held-out sets of 1,024 give 1.27 to 1.51 px, and sets of
    64 worlds measured here 1.2 to 1.5 px: the mean must stay within [0.7, 2.0] px. The lower bound
    catches a page that secretly watches (about 0.15 px); constant velocity would score 5.8 px.
    """
    open_player(browser, site_url)
    runs = scripted_run(browser, "dream", list(range(1000, 1096)), K + 9)
    at_h10 = [run[K + 8] for run in runs]  # frame K + 9: the 10th dreamed frame
    assert all(f["t"] == K + 9 and f["dreamed"] == 10 for f in at_h10)
    assert all(f["dreamed"] == 0 for run in runs for f in run[: K - 1]), "the first K frames should be watched"
    errors = [f["distance"] for f in at_h10 if f["visible"]]
    mean = float(np.mean(errors))
    print(f"dream: mean error after 10 dreamed frames {mean:.2f} px over {len(errors)} worlds "
          f"(the checkpoint: {OPEN_LOOP_H10_PX} px)")
    assert len(errors) >= 70
    assert 0.7 <= mean <= 2.0, f"after 10 dreamed frames the model's dot is {mean:.2f} px off on average"


def test_a_sampled_dream_differs_from_the_mean_and_repeats_with_its_seed(browser, site_url):
    open_player(browser, site_url)
    mean = scripted_run(browser, "dream", [7, 8], K + 6)
    sampled = scripted_run(browser, "dream", [7, 8], K + 6, sample=True)
    again = scripted_run(browser, "dream", [7, 8], K + 6, sample=True)
    assert [f["truth"] for run in mean for f in run] == [f["truth"] for run in sampled for f in run]
    assert [f["estimate"] for run in sampled for f in run] == [f["estimate"] for run in again for f in run]
    pairs = [(a["estimate"], b["estimate"]) for run_a, run_b in zip(mean, sampled) for a, b in zip(run_a, run_b)]
    steps = K + 6
    watched = [pair for i, pair in enumerate(pairs) if i % steps < K - 1]  # frames 1..K-1 of each world
    assert all(a == b for a, b in watched), "watched frames do not depend on sampling"
    dreamed = [np.hypot(*np.subtract(a, b)) for i, (a, b) in enumerate(pairs) if i % steps >= K]
    assert max(dreamed) > 0.1, "sampled dreams should wander away from the mean's"


def test_runs_at_twenty_frames_per_second_or_more(browser, site_url):
    open_player(browser, site_url)
    flat_out = browser.execute_async_script("const done = arguments[0]; window.rssmPlay.benchmark(100).then(done);")
    real_time = browser.execute_async_script(
        "const done = arguments[0]; const p = window.rssmPlay; p.speed = 30; const t0 = p.snapshot().t;"
        "const start = performance.now(); p.play();"
        "setTimeout(async () => { p.pause(); await p.queue;"
        " done({ frames: p.snapshot().t - t0, seconds: (performance.now() - start) / 1000 }); }, 2000);"
    )
    fps = real_time["frames"] / real_time["seconds"]
    print(f"speed: {flat_out['fps']:.0f} frames per second flat out (world, model and drawing); "
          f"{fps:.1f} per second at the 'fastest' setting (30)")
    assert flat_out["fps"] >= 20
    assert fps >= 20


# ----- where it cannot run, and small screens ---------------------------------------------------------


def test_says_so_when_webassembly_is_missing(browser, site_url):
    no_wasm = {"source": "delete globalThis.WebAssembly;"}  # as in a browser that has it switched off
    script = browser.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", no_wasm)
    try:
        open_page(browser, f"{site_url}/{PAGE}")
        status = WebDriverWait(browser, TIMEOUT_S).until(
            lambda d: d.execute_script("return document.getElementById('rssm-play').dataset.status")
        )
        assert status == "no-webassembly"
        message = browser.find_element(By.ID, "rssm-play").text
        assert "WebAssembly" in message and "chapter 5" in message
    finally:
        browser.execute_cdp_cmd("Page.removeScriptToEvaluateOnNewDocument", {"identifier": script["identifier"]})


def make_serve_url() -> str:
    """Where `make serve` serves the Play page: 127.0.0.1 at the Makefile's default PORT."""
    port = re.search(r"^PORT \?= (\d+)$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert port, "the Makefile should set a default port for make serve: PORT ?= 8000"
    return f"http://127.0.0.1:{port.group(1)}/{PAGE}"


def test_opened_from_a_file_it_says_to_run_make_serve(browser):
    """From file:// browsers run no module script (CORS), so the player cannot start: a reader who opens
    the built page from disk reads, in place of the player, the command that serves it and the address."""
    size = browser.get_window_size()
    try:
        for width, height in ((1280, 900), (390, 844)):
            browser.set_window_size(width, height)
            open_page(browser, (SITE / PAGE).as_uri())
            root = browser.find_element(By.ID, "rssm-play")
            assert root.get_attribute("data-status") == "file"
            message = root.find_element(By.CSS_SELECTOR, ".rssm-play__status")
            assert message.is_displayed(), f"at {width} px the message is hidden"
            assert "make serve" in message.text and make_serve_url() in message.text, message.text
            assert "needs JavaScript" not in root.text
            link = message.find_element(By.TAG_NAME, "a")
            assert link.get_attribute("href") == make_serve_url()
            right, screen = browser.execute_script(
                "return [arguments[0].getBoundingClientRect().right, document.documentElement.clientWidth]", message
            )
            assert right <= screen, f"at {width} px the message runs {right - screen:.0f} px past the screen"
    finally:
        browser.set_window_size(size["width"], size["height"])


def test_served_over_http_it_says_nothing_about_files(browser, site_url):
    open_player(browser, site_url)
    text = browser.find_element(By.ID, "rssm-play").text
    assert "make serve" not in text and "needs JavaScript" not in text, text


def test_fits_a_phone_screen(browser, site_url):
    size = browser.get_window_size()
    try:
        browser.set_window_size(390, 844)
        open_player(browser, site_url)
        width = browser.execute_script("return document.documentElement.clientWidth")
        truth, model = browser.execute_script(
            "return Array.from(document.querySelectorAll('#rssm-play canvas'))"
            ".map((c) => c.getBoundingClientRect().toJSON())"
        )
        assert truth["right"] <= model["left"], "the two frames should sit side by side"
        assert model["right"] <= width and truth["width"] >= 120, (truth, model, width)
        overflow = browser.execute_script(
            "const r = document.getElementById('rssm-play'); return r.scrollWidth - r.clientWidth"
        )
        assert overflow <= 0, f"the player is {overflow} px wider than the screen"
        pad = browser.find_elements(By.CSS_SELECTOR, "#rssm-play button[data-key]")
        assert len(pad) == 4 and all(b.is_displayed() for b in pad)
    finally:
        browser.set_window_size(size["width"], size["height"])


# ----- the notebook widget's front end ------------------------------------------------------------

# Mount the widget's front end (rssm.play.widget_esm()) with a stand-in for the anywidget model that
# records what it sends and answers like the kernel; then steer: watched frames, a new world, dreamed
# samples. Returns the messages sent, their buffers as lists of numbers.
WIDGET_SESSION = """
const [source, traits, presses, done] = arguments;
(async () => {
  const module = await import(URL.createObjectURL(new Blob([source], { type: "text/javascript" })));
  const sent = [];
  const listeners = {};
  const pixels = traits.world.grid_size ** 2;
  const model = {
    get: (name) => traits[name],
    on: (event, callback) => { listeners[event] = callback; },
    off: (event) => { delete listeners[event]; },
    send: (content, callbacks, buffers = []) => {
      sent.push({ content, buffers: buffers.map((b) => Array.from(new Float32Array(b))) });
      const frame = new Float32Array(pixels).fill(0.5);
      const reply = { type: content.type === "step" ? "frame" : "ready", id: content.id };
      setTimeout(() => listeners["msg:custom"](reply, content.type === "step" ? [new DataView(frame.buffer)] : []), 0);
    },
  };
  const el = document.createElement("div");
  document.body.prepend(el);
  const cleanup = await module.default.render({ model, el });
  const root = el.querySelector(".rssm-play");
  const pause = () => new Promise((resolve) => setTimeout(resolve, 50));
  const click = async (name) => { el.querySelector(`[data-control='${name}']`).click(); await pause(); };
  const key = async (name) => {
    root.dispatchEvent(new KeyboardEvent("keydown", { key: name, bubbles: true }));
    await pause();
  };
  await key("ArrowRight");
  await click("reset");
  await click("sample");
  for (let i = 0; i < presses; i++) await key("ArrowDown");
  const text = el.innerText;
  cleanup();
  return { sent, text };
})().then(done, (error) => done({ error: String(error) }));
"""


def test_the_notebook_widget_speaks_the_kernels_language(browser, site_url):
    """The widget's front end, in Chromium, sends messages that rssm.play.PlayWidget answers with frames."""
    from rssm import load_pretrained
    from rssm.play import PlayWidget, widget_esm

    checkpoint = load_pretrained()
    widget = PlayWidget(checkpoint.model, checkpoint.data_config, K=K)
    open_page(browser, f"{site_url}/book/intro.html")
    traits = {"world": widget.world, "K": widget.K, "noise_size": widget.noise_size}
    session = browser.execute_async_script(WIDGET_SESSION, widget_esm(), traits, K + 1)  # frames 1..K+1
    if "error" in session:
        pytest.fail(f"the widget's front end failed: {session['error']}", pytrace=False)
    assert "dreamed 2 frames" in session["text"]
    kinds = [(m["content"]["type"], m["content"].get("watch")) for m in session["sent"]]
    assert kinds[:3] == [("reset", None), ("step", True), ("step", True)]  # frame 0, then ArrowRight
    dreamed = [m for m in session["sent"] if m["content"].get("watch") is False]
    assert len(dreamed) == 2 and all(len(m["content"]["noise"]) == widget.noise_size for m in dreamed)
    for message in session["sent"]:  # the kernel's side answers every one of them with a frame
        buffers = [np.asarray(b, dtype="<f4").tobytes() for b in message["buffers"]]
        reply, frames = widget.handle_message(message["content"], buffers)
        assert reply["type"] in ("ready", "frame"), reply
        if reply["type"] == "frame":
            assert len(frames) == 1 and len(frames[0]) == 4 * checkpoint.data_config.grid_size ** 2
