"""The Play page's agents (rssm/web/agents.js) do what the Python planner does, on a model we can solve by hand.

The drivers are run with ``node`` against a fake set of graphs whose model is a point that each action
moves by twice the action (h is the position, the reading returns it), so every imagined position is
known exactly. This checks the bookkeeping the browser's planner shares with ``rssm.planning.cem_plan``
(candidates, steps, scores, elites) without a browser. The graphs themselves are checked against
PyTorch in tests/test_export_agent.py, and the page's agents in tests_browser/test_play_agents.py.
Skipped, with the reason, where node (Node.js) is not installed.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import torch
from conftest import NODE, WEB, requires_node

from rssm.export import mask_rows
from rssm.planning import plan_scores

pytestmark = requires_node

DRIVER = """
import { readFileSync } from "node:fs";
import { ActorDriver, PlannerDriver, maskFromRows } from "AGENTS";

// The fake model: h is the dot's position (2 numbers), an action moves it by 2 * action; z is unused.
const graphs = {
  manifest: { model: { deter_dim: 2, latent_size: 1, noise_size: 1 } },
  async run(name, inputs, batch = 1) {
    const h = inputs.h;
    if (name === "prior_step") {
      const next = Float32Array.from(h, (v, i) => v + 2 * inputs.action[i]);
      return { h_next: next, z_mode: new Float32Array(batch), z_sample: new Float32Array(batch) };
    }
    if (name === "reading") return { position: Float32Array.from(h) };
    if (name === "actor") { // towards the goal, at most 1 per axis
      return { action: Float32Array.from(h, (v, i) => Math.max(-1, Math.min(1, (inputs.goal[i] - v) / 10))) };
    }
    throw new Error(name);
  },
};
const request = JSON.parse(readFileSync(0, "utf8"));
let answer;
if (request.task === "imagine") {
  const planner = new PlannerDriver(graphs, request.settings, 0);
  const { n, H } = request;
  answer = Array.from(await planner.imagine(Float32Array.from(request.h), new Float32Array(1), Float32Array.from(request.actions), n, H));
} else if (request.task === "scores") {
  answer = Array.from(PlannerDriver.scores(Float32Array.from(request.positions), request.goal, request.n, request.H));
} else if (request.task === "plan") {
  const planner = new PlannerDriver(graphs, request.settings, 7);
  const decisions = [];
  let h = Float32Array.from(request.h);
  for (let t = 0; t < request.steps; t++) { // plan, act, and move the fake dot as the model says
    const d = await planner.act(h, new Float32Array(1), request.goal, request.steps - t);
    decisions.push(d);
    h = Float32Array.from(h, (v, i) => v + 2 * d.action[i]);
  }
  answer = { decisions, final: Array.from(h) };
} else if (request.task === "actor") {
  const actor = new ActorDriver(graphs, request.horizon);
  answer = await actor.act(Float32Array.from(request.h), new Float32Array(1), request.goal);
} else if (request.task === "mask") {
  answer = Array.from(maskFromRows(request.rows, request.size));
}
console.log(JSON.stringify(answer));
"""

SETTINGS = {"candidates": 50, "horizon": 6, "top_k": 5, "iterations": 3, "init_std": 1.0, "min_std": 0.05,
            "warm_start": True}


def run_node(tmp_path: Path, request: dict):
    script = tmp_path / "driver.mjs"
    script.write_text(DRIVER.replace("AGENTS", (WEB / "agents.js").as_uri()))
    done = subprocess.run([NODE, str(script)], input=json.dumps(request), capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_imagined_positions_are_laid_out_per_candidate_then_step(tmp_path):
    n, H = 4, 5
    actions = np.random.default_rng(0).uniform(-1, 1, (n, H, 2)).astype(np.float32)
    h = [3.0, 7.0]
    got = np.array(run_node(tmp_path, {"task": "imagine", "settings": SETTINGS, "h": h, "actions": actions.ravel().tolist(),
                                       "n": n, "H": H})).reshape(n, H, 2)
    expected = np.array(h) + 2 * np.cumsum(actions, axis=1)  # (n, H, 2)
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_scores_are_plan_scores(tmp_path):
    n, H = 6, 4
    positions = np.random.default_rng(1).uniform(0, 32, (n, H, 2)).astype(np.float32)
    goal = [12.5, 20.0]
    got = run_node(tmp_path, {"task": "scores", "positions": positions.ravel().tolist(), "goal": goal, "n": n, "H": H})
    expected = plan_scores(torch.from_numpy(positions), torch.tensor(goal))
    np.testing.assert_allclose(got, expected.numpy(), atol=1e-4)


def test_the_planner_drives_the_point_to_the_goal_and_reports_its_search(tmp_path):
    goal = [20.0, 9.0]
    answer = run_node(tmp_path, {"task": "plan", "settings": SETTINGS, "h": [5.0, 5.0], "goal": goal, "steps": 12})
    assert np.hypot(*(np.array(answer["final"]) - goal)) < 2.0  # within the task's success radius
    first, last = answer["decisions"][0], answer["decisions"][-1]
    assert first["action"][0] > 0.5 and first["action"][1] > 0  # towards the goal: right, and down a little
    assert first["imaginedSteps"] == SETTINGS["candidates"] * SETTINGS["horizon"] * SETTINGS["iterations"]
    assert len(first["path"]) == SETTINGS["horizon"] and len(first["candidates"]) == 8
    assert len(last["path"]) == 1  # the plan is shortened to the one step left, as in Python
    assert all(-1 <= a <= 1 for d in answer["decisions"] for a in d["action"])
    np.testing.assert_allclose(first["path"][0], np.array([5.0, 5.0]) + 2 * np.array(first["action"]), atol=1e-5)


def test_the_actor_acts_once_then_imagines_its_own_rollout(tmp_path):
    answer = run_node(tmp_path, {"task": "actor", "h": [4.0, 30.0], "goal": [24.0, 10.0], "horizon": 3})
    np.testing.assert_allclose(answer["action"], [1.0, -1.0])
    np.testing.assert_allclose(answer["path"], [[6, 28], [8, 26], [10, 24]], atol=1e-5)  # each step re-asks the actor
    assert answer["imaginedSteps"] == 0 and answer["belief"] == [4.0, 30.0]


def test_mask_rows_decode_to_the_mask(tmp_path):
    mask = torch.from_numpy(np.random.default_rng(2).random((1, 10, 10)) < 0.3)
    got = run_node(tmp_path, {"task": "mask", "rows": mask_rows(mask), "size": 10})
    np.testing.assert_array_equal(np.array(got).reshape(10, 10), mask[0].numpy().astype(int))
