"""The Play page's second half in headless Chromium: a goal is set, and an agent drives the dot there.

The drivers run the exported graphs in the page (rssm/web/agents.js): the shipped Dreamer actor, one
graph call per action, and chapter 11's CEM planner, every candidate imagined by the model. The tests
drive whole episodes through the page's hook (``window.rssmPlay``: ``reset(seed)``, ``episode(i)``,
``setDriver``, ``setGoal``, ``step()``, ``state()``) and judge them with the page's own ``state()``,
then check the controls a reader uses: the driver buttons, a click on a frame, the keys.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import ROOT, SITE, TIMEOUT_S
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait
from test_play import open_player

from rssm.checkpoint import load_checkpoint
from rssm.dreamer import SHIPPED_AGENT, RewardReading, load_agent
from rssm.planning import LatentModel, MPCAgent, PlannerConfig, PlannerReport, PlanningTask, run_episode

EPISODES = 20  # scripted episodes per bar
SUCCESS_BAR = 0.7  # of them must end within the task's success radius
PARITY_POINTS = 0.10  # the browser planner's success rate within this of the Python planner's, same episodes

# Play one episode with a driver and return the page's own judgement at its end, with where the
# model's frame puts the dot. `case` is either {"episode": i} (the planning task's episode i, as
# episodes.json holds it) or {"seed": s, "x": x, "y": y} (the page's own random world for the seed, and
# a goal in pixels), and may hold a mode set once the episode starts ("dream": the model sees frames
# 0..K-1, then only the actions). One call per episode keeps each call short, whatever the machine.
PLAY = """
const [driver, c, done] = arguments;
(async () => {
  const p = window.rssmPlay;
  if (p.state().driver !== driver) await p.setDriver(driver);
  if (c.episode !== undefined) await p.episode(c.episode);
  else { await p.reset(c.seed); await p.setGoal(c.x, c.y); }
  if (c.mode) p.setMode(c.mode);
  const steps = p.state().episode_steps;
  for (let t = 0; t < steps; t++) await p.step();
  return { ...p.state(), model_estimate: p.snapshot().estimate };
})().then(done, (error) => done({ error: String(error) }));
"""


def play(browser, driver: str, spec: dict) -> list[dict]:
    """Play the cases of `spec` ({"episodes": [i, ...]} or {"pairs": [[seed, x, y], ...]}, with an optional
    "mode") one by one."""
    cases = ([{"episode": i} for i in spec["episodes"]] if "episodes" in spec
             else [{"seed": seed, "x": x, "y": y} for seed, x, y in spec["pairs"]])
    cases = [{**case, "mode": spec.get("mode")} for case in cases]
    browser.set_script_timeout(2 * TIMEOUT_S)
    states = []
    for case in cases:
        state = browser.execute_async_script(PLAY, driver, case)
        if "error" in state:
            pytest.fail(f"the episode {case} failed in the page: {state['error']}", pytrace=False)
        states.append(state)
    return states


def scripted_pairs() -> list[list[float]]:
    """20 (seed, goal) pairs: seeds 100..119 and goals drawn as the task draws them (2 px inside the walls)."""
    world = load_checkpoint(ROOT / "rssm" / "pretrained" / load_agent(SHIPPED_AGENT).world_model).data_config
    low, high = world.wall_low + PlanningTask().goal_margin, world.wall_high - PlanningTask().goal_margin
    goals = np.random.default_rng(2024).uniform(low, high, (EPISODES, 2))
    return [[100 + i, float(x), float(y)] for i, (x, y) in enumerate(goals)]


def judged(states: list[dict]) -> float:
    """The share of episodes the page judged a success; every state is at the episode's end."""
    for s in states:
        assert s["frame"] == s["episode_steps"] and s["episode_step"] == s["episode_steps"], s
        assert s["verdict"]["success"] == s["success"] == (s["distance"] <= PlanningTask().success_radius)
    return sum(s["success"] for s in states) / len(states)


@pytest.fixture(scope="module")
def episodes_json():
    return json.loads((SITE / "_static" / "play" / "model" / "episodes.json").read_text())


# ----- the bars: 20 scripted (seed, goal) pairs with occluders, each driver --------------------------


@pytest.mark.parametrize("driver", ["actor", "planner"])
def test_each_agent_reaches_most_goals_on_scripted_pairs(browser, site_url, driver):
    open_player(browser, site_url)
    assert browser.execute_script("return window.rssmPlay.worldConfig.use_occlusion")
    states = play(browser, driver, {"pairs": scripted_pairs()})
    rate = judged(states)
    cost = np.mean([s["ms_per_action"] for s in states])
    print(f"{driver} on {EPISODES} scripted (seed, goal) pairs: success {rate:.2f}, "
          f"{cost:.1f} ms per action in the page")
    assert rate >= SUCCESS_BAR


# ----- the same numbers as Python, same episodes -------------------------------------------------------


def test_the_actor_in_the_page_ends_where_the_pytorch_actor_ends(browser, site_url, episodes_json):
    """The task's episodes 0..19: the page's actor (ONNX Runtime Web, the page's world) and the PyTorch actor
    (benchmarks/behavior.py's) end at the same distance from the goal, to float32 rounding."""
    open_player(browser, site_url)
    states = play(browser, "actor", {"episodes": list(range(EPISODES))})
    python = [e["actor"] for e in episodes_json["episodes"][:EPISODES]]
    np.testing.assert_allclose([s["distance"] for s in states], [e["final_distance"] for e in python], atol=1e-3)
    assert [s["success"] for s in states] == [e["success"] for e in python]
    assert judged(states) >= SUCCESS_BAR


def test_the_planner_in_the_page_succeeds_as_often_as_the_python_planner(browser, site_url):
    """The task's episodes 0..19, chapter 11's planner with the same settings and the same learned reward:
    the page draws its candidates with its own generator, so the two agree in rate, not action by action."""
    open_player(browser, site_url)
    page = judged(play(browser, "planner", {"episodes": list(range(EPISODES))}))
    agent = load_agent(SHIPPED_AGENT)
    checkpoint = load_checkpoint(ROOT / "rssm" / "pretrained" / agent.world_model)
    torch.set_num_threads(1)  # the browser is busy too
    world, task = checkpoint.data_config, PlanningTask()
    latent = LatentModel(checkpoint.model, RewardReading(agent.reward, world.grid_size))
    results = [run_episode(task, world, task.episode(i, world), MPCAgent(latent, PlannerConfig())) for i in range(EPISODES)]
    python = PlannerReport("planner", world.use_occlusion, results).success_rate
    print(f"planner on the task's episodes 0..{EPISODES - 1}: success {page:.2f} in the page, {python:.2f} in Python")
    assert page >= SUCCESS_BAR
    assert abs(page - python) <= PARITY_POINTS


# ----- live: speed and the readout of cost ------------------------------------------------------------


def test_the_actor_drives_at_ten_frames_per_second_or_more_and_the_planner_shows_its_cost(browser, site_url):
    open_player(browser, site_url)
    browser.execute_async_script("const done = arguments[0]; window.rssmPlay.setDriver('actor').then(done);")
    actor = browser.execute_async_script("const done = arguments[0]; window.rssmPlay.benchmark(60).then(done);")
    browser.execute_async_script("const done = arguments[0]; window.rssmPlay.setDriver('planner').then(done);")
    planner = browser.execute_async_script("const done = arguments[0]; window.rssmPlay.benchmark(10).then(done);")
    readout = browser.find_element(By.CSS_SELECTOR, "#rssm-play [data-readout='cost']").text
    print(f"actor driving: {actor['fps']:.0f} frames per second (with its imagined rollout drawn); "
          f"planner driving: {planner['fps']:.1f} frames per second; the readout says '{readout}'")
    assert actor["fps"] >= 10
    assert readout.startswith("planner: ") and "ms per action, imagining 3,600 steps" in readout
    costs = browser.execute_script("const t = window.rssmPlay.decisionTimes;"
                                   "const mean = (a) => a.reduce((x, y) => x + y, 0) / a.length;"
                                   "return [mean(t.actor), mean(t.planner)]")
    assert costs[1] >= 100 * costs[0], f"play.md: the planner costs more than a hundred times the actor per action ({costs})"


def test_the_planners_search_can_be_changed_within_limits(browser, site_url):
    open_player(browser, site_url)
    browser.execute_async_script("const done = arguments[0]; window.rssmPlay.setDriver('planner').then(done);")
    row = browser.find_element(By.CSS_SELECTOR, "#rssm-play .rssm-play__planner")
    assert row.is_displayed()
    field = row.find_element(By.CSS_SELECTOR, "input[data-control='planner-candidates']")
    field.clear()
    field.send_keys("50000", Keys.TAB)  # far too many: brought down to the page's limit
    settings = browser.execute_script("return window.rssmPlay.agents.drivers.planner.settings")
    assert settings["candidates"] == 1000 and field.get_attribute("value") == "1000"
    assert browser.execute_script("return window.rssmPlay.setPlanner({iterations: 0}).iterations") == 1
    browser.execute_script("window.rssmPlay.setPlanner({candidates: 40, top_k: 80})")
    settings = browser.execute_script("return window.rssmPlay.agents.drivers.planner.settings")
    assert settings["top_k"] <= settings["candidates"] == 40  # never more elites than candidates
    state = browser.execute_async_script(
        "const done = arguments[0]; const p = window.rssmPlay; p.step().then(() => done(p.state()));")
    assert state["imagined_steps_per_action"] == 40 * 12 * 1  # candidates x horizon x iterations


# ----- the reader's controls --------------------------------------------------------------------------


def test_driver_buttons_switch_who_drives(browser, site_url):
    open_player(browser, site_url)
    buttons = {name: browser.find_element(By.CSS_SELECTOR, f"#rssm-play [data-control='driver-{name}']")
               for name in ("you", "actor", "planner")}
    planner_row = browser.find_element(By.CSS_SELECTOR, "#rssm-play .rssm-play__planner")
    for name in ("actor", "planner", "you"):
        buttons[name].click()
        WebDriverWait(browser, TIMEOUT_S).until(lambda d, name=name: d.execute_script("return window.rssmPlay.state().driver") == name)
        assert [b.get_attribute("aria-pressed") for b in buttons.values()].count("true") == 1
        assert buttons[name].get_attribute("aria-pressed") == "true"
        assert planner_row.is_displayed() == (name == "planner")
    state = browser.execute_script("return window.rssmPlay.state()")
    assert state["goal"] is not None, "an agent given no goal draws one"


def test_a_click_on_a_frame_sets_the_goal_there_and_the_agent_drives_to_it(browser, site_url):
    open_player(browser, site_url)
    browser.execute_async_script("const done = arguments[0]; window.rssmPlay.setDriver('actor').then(done);")
    canvas = browser.find_element(By.CSS_SELECTOR, "#rssm-play canvas")  # the true world
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", canvas)  # clear of the page's header
    size = browser.execute_script("return window.rssmPlay.worldConfig.grid_size")
    box = browser.execute_script("const r = arguments[0].getBoundingClientRect();"
                                 "return {left: r.left, top: r.top, width: r.width, height: r.height};", canvas)
    target = (20.0, 9.0)  # grid pixels
    dx = (target[0] + 0.5) / size * box["width"] - box["width"] / 2  # from the canvas's centre
    dy = (target[1] + 0.5) / size * box["height"] - box["height"] / 2
    point = (box["left"] + box["width"] / 2 + dx, box["top"] + box["height"] / 2 + dy)
    hit = browser.execute_script("const e = document.elementFromPoint(arguments[0], arguments[1]);"
                                 "return e === arguments[2] ? 'canvas' : (e ? e.outerHTML.slice(0, 120) : 'nothing');",
                                 *point, canvas)
    assert hit == "canvas", f"the click point {point} is covered by {hit}"
    ActionChains(browser).move_to_element_with_offset(canvas, round(dx), round(dy)).click().perform()
    WebDriverWait(browser, TIMEOUT_S).until(
        lambda d: np.allclose(d.execute_script("return window.rssmPlay.state().goal"), target, atol=0.5))
    state = browser.execute_async_script(
        "const done = arguments[0]; const p = window.rssmPlay;"
        "(async () => { for (let t = 0; t < 30; t++) await p.step(); return p.state(); })().then(done);")
    assert state["episode_step"] == 30 and state["verdict"] is not None
    assert state["distance"] < 3.0, state
    assert "episode over at frame" in browser.find_element(By.CSS_SELECTOR, "#rssm-play [data-readout='goal']").text


def test_with_the_keyboard_alone_a_reader_picks_an_agent_and_moves_its_goal(browser, site_url):
    open_player(browser, site_url)
    root = browser.find_element(By.ID, "rssm-play")
    actor = browser.find_element(By.CSS_SELECTOR, "#rssm-play [data-control='driver-actor']")
    browser.execute_script("arguments[0].focus()", root)
    for _ in range(12):  # Tab through the player until the actor's button has the focus
        if browser.switch_to.active_element == actor:
            break
        ActionChains(browser).send_keys(Keys.TAB).perform()
    assert browser.switch_to.active_element == actor, "the actor's button is reachable with Tab"
    ActionChains(browser).send_keys(Keys.ENTER).perform()
    WebDriverWait(browser, TIMEOUT_S).until(lambda d: d.execute_script("return window.rssmPlay.state().driver") == "actor")
    before = browser.execute_script("return window.rssmPlay.state().goal")
    browser.execute_script("arguments[0].focus()", root)
    ActionChains(browser).send_keys(Keys.ARROW_RIGHT).perform()
    WebDriverWait(browser, TIMEOUT_S).until(
        lambda d: np.isclose(d.execute_script("return window.rssmPlay.state().goal")[0], min(before[0] + 1, 31)))
    ActionChains(browser).send_keys("g").perform()
    WebDriverWait(browser, TIMEOUT_S).until(
        lambda d: d.execute_script("return window.rssmPlay.state().episode_step") == 0
        and d.execute_script("return window.rssmPlay.state().goal")[1] != before[1])


def test_the_hook_refuses_bad_drivers_and_goals_with_a_reason(browser, site_url):
    open_player(browser, site_url)
    refusals = browser.execute_async_script(
        "const done = arguments[0]; const p = window.rssmPlay;"
        "Promise.allSettled([p.setDriver('robot'), p.setGoal(40, 3), p.setGoal(NaN, 3), p.episode(1000)])"
        ".then((r) => done(r.map((x) => x.reason && x.reason.message)));")
    assert refusals[0] == "driver=robot: must be one of you, actor, planner"
    assert refusals[1] == "goal (40, 3): must be two numbers in [0, 31] (pixels)"
    assert refusals[2].startswith("goal (NaN, 3)")
    assert refusals[3] == "episode 1000: must be an int in [0, 99]"
    assert browser.execute_script("return window.rssmPlay.state().driver") == "you"  # nothing changed


def test_the_agents_fit_a_phone_screen(browser, site_url):
    size = browser.get_window_size()
    try:
        browser.set_window_size(390, 844)
        open_player(browser, site_url)
        browser.execute_async_script("const done = arguments[0]; window.rssmPlay.setDriver('planner').then(done);")
        overflow = browser.execute_script("const r = document.getElementById('rssm-play'); return r.scrollWidth - r.clientWidth")
        assert overflow <= 0, f"the player is {overflow} px wider than the screen"
        for selector in ("[data-control='driver-actor']", "[data-control='goal']", "input[data-control='planner-top_k']"):
            element = browser.find_element(By.CSS_SELECTOR, f"#rssm-play {selector}")
            assert element.is_displayed() and element.rect["x"] + element.rect["width"] <= 390, selector
    finally:
        browser.set_window_size(size["width"], size["height"])


# ----- what play.md tells the reader to try ----------------------------------------------------------


def test_a_starved_planner_still_reaches_most_goals(browser, site_url):
    """play.md: 10 candidates, 1 elite, 1 iteration (120 imagined steps per action) still reach most goals."""
    open_player(browser, site_url)
    browser.execute_async_script("const done = arguments[0]; const p = window.rssmPlay;"
                                 "p.setDriver('planner').then(() => done(p.setPlanner("
                                 "{ candidates: 10, top_k: 1, iterations: 1 })));")
    results = play(browser, "planner", {"episodes": list(range(10))})
    assert {r["imagined_steps_per_action"] for r in results} == {120}
    assert sum(r["success"] for r in results) >= 7


def test_an_actor_driving_blind_reaches_the_goal_in_its_dream_and_misses_in_the_world(browser, site_url):
    """play.md: in dream mode the model's dot ends on the goal, the true dot mostly a few pixels away."""
    open_player(browser, site_url)
    results = play(browser, "actor", {"episodes": list(range(10)), "mode": "dream"})
    in_dream = sum(np.hypot(*np.subtract(r["model_estimate"], r["goal"])) <= PlanningTask().success_radius
                   for r in results)
    in_world = sum(r["success"] for r in results)
    print(f"driving blind: the model's dot within 2 px of the goal in {in_dream}/10, the true dot in {in_world}/10")
    assert in_dream >= 8 and in_world <= 4
