"""The Play page's JavaScript world (rssm/web/world.js) and read-out (readout.js) match the Python package.

Each test runs the JavaScript modules with ``node`` on scripted inputs and compares the answers with
``rssm.dataset`` and ``rssm.evaluate``: positions to 1e-4 px, frames to 1e-5 per pixel.
Skipped, with the reason, where node (Node.js) is not installed.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess

import matplotlib
import numpy as np
import pytest
import torch
from conftest import NODE, WEB, requires_node

from rssm.dataset import MovingDotConfig, dot_is_visible, draw_occluders, occluder_mask, render_dots, simulate_states
from rssm.evaluate import estimate_dot_position
from rssm.export import scripted_sequence

pytestmark = requires_node

# Reads one JSON request on stdin, answers with one JSON line. Float32Arrays are sent as lists.
DRIVER = """
import { readFileSync } from "node:fs";
import * as world from "WORLD";
import { estimateDotPosition } from "READOUT";
import { MAGMA } from "COLORMAP";

const request = JSON.parse(readFileSync(0, "utf8"));
const config = request.config;
let answer;
if (request.task === "simulate") {
  answer = request.cases.map(({ initial_state: [x, y, vx, vy], occluders, actions }) => {
    const w = new world.MovingDotWorld(config, { x, y, vx, vy }, occluders);
    const out = { states: [], frames: [], visible: [] };
    for (const action of actions) {
      out.states.push([w.state.x, w.state.y, w.state.vx, w.state.vy]);
      out.frames.push(Array.from(w.frame()));
      out.visible.push(w.visible());
      w.step(action);
    }
    return out;
  });
} else if (request.task === "readout") {
  const background = (i) => request.backgrounds[i] && Float32Array.from(request.backgrounds[i]);
  answer = request.frames.map((frame, i) => estimateDotPosition(Float32Array.from(frame), background(i)));
} else if (request.task === "random") {
  const rng = world.makeRng(request.seed);
  answer = Array.from({ length: request.count }, () => {
    const w = world.MovingDotWorld.random(config, rng);
    return { state: w.state, occluders: w.occluders };
  });
} else if (request.task === "randn") {
  const rng = world.makeRng(request.seed);
  answer = Array.from({ length: request.count }, () => world.randn(rng));
} else if (request.task === "colormap") {
  answer = Array.from(MAGMA);
}
process.stdout.write(JSON.stringify(answer));
"""


def run_js(task: str, config: MovingDotConfig | None = None, **fields) -> object:
    """Run the driver on one request and return its JSON answer."""
    source = DRIVER
    for name, file in (("WORLD", "world.js"), ("READOUT", "readout.js"), ("COLORMAP", "colormap.js")):
        source = source.replace(f'"{name}"', json.dumps((WEB / file).as_uri()))
    request = {"task": task, "config": (config or MovingDotConfig()).to_dict(), **fields}
    done = subprocess.run(
        [NODE, "--input-type=module", "-e", source],
        input=json.dumps(request), capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def scripted_cases(config: MovingDotConfig) -> list[dict]:
    """Scripted worlds: the export's reference, hard pushes into walls and corners, and seeded random actions."""
    reference = scripted_sequence(64)
    T = 64
    cases = [
        {"initial_state": reference.initial_state, "occluders": reference.occluders, "actions": reference.actions},
        # full speed into the right wall, then the bottom-left corner: bounces and the speed clip
        {"initial_state": (25.0, 5.0, 2.0, 0.0), "occluders": ((0, 0, 5, 5),),
         "actions": torch.tensor([[1.0, 0.0]] * 20 + [[-1.0, 1.0]] * 44)},
        # from a wall, standing still, then pushed away
        {"initial_state": (config.wall_low, config.wall_high, 0.0, 0.0), "occluders": (),
         "actions": torch.tensor([[0.0, 0.0]] * 5 + [[0.3, -0.7]] * 59)},
    ]
    generator = torch.Generator().manual_seed(11)
    for _ in range(4):  # the dataset's distribution: uniform actions in [-1, 1]
        start = torch.rand(4, generator=generator)
        state = (config.wall_low + start[0].item() * (config.wall_high - config.wall_low),
                 config.wall_low + start[1].item() * (config.wall_high - config.wall_low),
                 (2 * start[2].item() - 1) * config.max_speed, (2 * start[3].item() - 1) * config.max_speed)
        cases.append({"initial_state": state, "occluders": ((3, 4, 9, 6), (18, 20, 6, 10)),
                      "actions": 2 * torch.rand(T, 2, generator=generator) - 1})
    return cases


def python_world(case: dict, config: MovingDotConfig) -> dict[str, torch.Tensor]:
    initial = torch.tensor([case["initial_state"]], dtype=torch.float32)
    states = simulate_states(initial, case["actions"][None].float(), config)  # (1, T, 4)
    mask = occluder_mask(case["occluders"], config)[None] & config.use_occlusion  # (1, 1, H, W); empty: no occlusion
    frames = draw_occluders(render_dots(states[..., :2], config), mask, config)  # (1, T, 1, H, W)
    visible = dot_is_visible(states[..., :2], mask)[0]  # (T,)
    return {"states": states[0], "frames": frames[0, :, 0].flatten(1), "visible": visible}


@pytest.mark.parametrize("occlusion", [True, False])
def test_js_world_moves_the_dot_as_rssm_dataset_does(occlusion):
    config = dataclasses.replace(MovingDotConfig(), use_occlusion=occlusion)
    cases = scripted_cases(config)
    answers = run_js("simulate", config, cases=[{**c, "actions": c["actions"].tolist()} for c in cases])
    for i, (case, answer) in enumerate(zip(cases, answers)):
        expected = python_world(case, config)
        states = np.array(answer["states"])
        truth = expected["states"].numpy()
        np.testing.assert_allclose(states[:, :2], truth[:, :2], atol=1e-4, rtol=0, err_msg=f"case {i}: positions (px)")
        np.testing.assert_allclose(states[:, 2:], truth[:, 2:], atol=1e-4, rtol=0, err_msg=f"case {i}: velocities")
        frames = np.array(answer["frames"])
        np.testing.assert_allclose(frames, expected["frames"].numpy(), atol=1e-5, rtol=0, err_msg=f"case {i}: frames")
        if occlusion:
            visible = expected["visible"].numpy()
            np.testing.assert_array_equal(answer["visible"], visible, err_msg=f"case {i}: visibility")


def test_js_world_on_another_grid_and_dot():
    config = MovingDotConfig(
        grid_size=16, dot_sigma=0.8, max_speed=1.5, action_scale=0.3, occluder_min_size=3, occluder_max_size=5
    )
    case = {"initial_state": (3.0, 12.0, 1.4, -1.1), "occluders": ((5, 5, 4, 3),),
            "actions": 2 * torch.rand(40, 2, generator=torch.Generator().manual_seed(5)) - 1}
    answer = run_js("simulate", config, cases=[{**case, "actions": case["actions"].tolist()}])[0]
    expected = python_world(case, config)
    np.testing.assert_allclose(np.array(answer["states"]), expected["states"].numpy(), atol=1e-4, rtol=0)
    np.testing.assert_allclose(np.array(answer["frames"]), expected["frames"].numpy(), atol=1e-5, rtol=0)


def test_js_world_refuses_a_fork_world_rather_than_drop_its_kicks():
    with pytest.raises(AssertionError, match="does not simulate kicks"):
        run_js("random", MovingDotConfig(kick_probability=0.1), seed=1, count=1)


def test_js_readout_is_estimate_dot_position():
    """Frames like the model's: a blurred dot, noise, occluders, a faint second blob, a blank frame."""
    config = MovingDotConfig()
    generator = torch.Generator().manual_seed(2)
    positions = config.wall_low + torch.rand(12, 2, generator=generator) * (config.wall_high - config.wall_low)
    frames = 0.8 * render_dots(positions, config)[:, 0]  # (N, H, W)
    frames += 0.05 * torch.randn(frames.shape, generator=generator)
    frames[3] += 0.3 * render_dots(torch.tensor([5.0, 25.0]), config)[0]  # a faint second blob
    masks = torch.stack([occluder_mask(((4 * i % 20, 6, 7, 8),), config) for i in range(12)])  # (N, 1, H, W)
    backgrounds = masks.float() * config.occluder_intensity
    frames = torch.where(masks[:, 0], frames + config.occluder_intensity, frames)
    backgrounds[::2] = 0  # every other frame without a background
    frames[4] = 0.0  # blank: reads as the centre
    answer = np.array(run_js("readout", config, frames=frames.flatten(1).tolist(),
                             backgrounds=[b.flatten().tolist() if b.any() else None for b in backgrounds]))
    expected = estimate_dot_position(frames[:, None, None].double(), backgrounds.double())[:, 0]  # (N, 2)
    np.testing.assert_allclose(answer, expected.numpy(), atol=1e-4, rtol=0)
    assert answer[4].tolist() == [15.5, 15.5]


def test_js_random_worlds_are_drawn_like_the_dataset():
    config = MovingDotConfig()
    worlds = run_js("random", config, seed=7, count=300)
    assert worlds == run_js("random", config, seed=7, count=300), "the same seed should give the same worlds"
    assert worlds != run_js("random", config, seed=8, count=300)
    states = np.array([[w["state"][k] for k in ("x", "y", "vx", "vy")] for w in worlds])
    assert (states[:, :2] >= config.wall_low).all() and (states[:, :2] <= config.wall_high).all()
    assert (np.abs(states[:, 2:]) <= config.max_speed).all()
    velocities = states[:, 2:]  # uniform in [-2, 2]: mean 0, std 1.15
    assert np.abs(velocities.mean(0)).max() < 0.25 and velocities.std(0).min() > 0.9
    rects = np.array([r for w in worlds for r in w["occluders"]])
    assert all(len(w["occluders"]) == config.num_occluders for w in worlds)
    sides = rects[:, 2:]
    assert sides.min() == config.occluder_min_size and sides.max() == config.occluder_max_size
    assert (rects[:, :2] >= 0).all() and (rects[:, :2] + sides <= config.grid_size).all()
    no_occluders = run_js("random", dataclasses.replace(config, use_occlusion=False), seed=7, count=5)
    assert all(w["occluders"] == [] for w in no_occluders)


def test_js_noise_is_standard_normal():
    draws = np.array(run_js("randn", seed=3, count=20000))
    assert abs(draws.mean()) < 0.03 and abs(draws.std() - 1) < 0.03
    assert abs((np.abs(draws) < 1).mean() - 0.6827) < 0.015


def test_js_colormap_is_the_books_frame_colormap():
    table = np.array(run_js("colormap")).reshape(256, 3)
    expected = np.round(matplotlib.colormaps["magma"](np.linspace(0, 1, 256))[:, :3] * 255)
    np.testing.assert_array_equal(table, expected)
