"""The agent's graphs of the Play page (rssm.export) act as the PyTorch agent acts.

The shipped model is exported with the shipped agent (the one chapter 12 trains in it), as the book's
build does. The actor's and the reward reading's graphs are compared with PyTorch on random states,
and the actor is replayed through the ONNX graphs alone (filter, act, step the world) on the task's
first episodes, as the page does, against the actions PyTorch took (``episodes.json``).
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
import torch

from rssm.checkpoint import load_checkpoint
from rssm.dataset import MovingDotEnv
from rssm.dreamer import SHIPPED_AGENT, RewardReading, goal_input, load_agent
from rssm.export import AGENT_GRAPH_FILES, TASK_EPISODES, export_play_assets, mask_rows
from rssm.model import RSSMState
from rssm.planning import PlanningTask

ROOT = Path(__file__).resolve().parents[1]
REPLAYED = 5  # episodes replayed through the graphs


@pytest.fixture(scope="module")
def shipped():
    agent = load_agent(SHIPPED_AGENT)
    return agent, load_checkpoint(ROOT / "rssm" / "pretrained" / agent.world_model)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """The Play page's assets as the book's build writes them: (folder, manifest, sessions, episodes)."""
    out = tmp_path_factory.mktemp("play_agent")
    manifest = json.loads(export_play_assets(out).read_text())
    graphs = {**manifest["graphs"], **manifest["agent"]["graphs"]}
    sessions = {name: onnxruntime.InferenceSession(str(out / g["file"]), providers=["CPUExecutionProvider"])
                for name, g in graphs.items()}
    episodes = json.loads((out / "episodes.json").read_text())
    return out, manifest, sessions, episodes


def test_the_agent_is_exported_with_the_model_it_was_trained_in(exported, shipped):
    out, manifest, sessions, _ = exported
    agent, _ = shipped
    entry = manifest["agent"]
    assert manifest["model"]["checkpoint"] == agent.world_model
    assert entry["agent_file"] == SHIPPED_AGENT.name
    assert set(entry["graphs"]) == set(AGENT_GRAPH_FILES)
    assert entry["imagination_horizon"] == agent.behavior.horizon
    assert entry["task"]["episode_steps"] == PlanningTask().episode_steps
    lows, highs = zip(*entry["planner_limits"].values())
    assert all(1 <= low < high <= 1000 for low, high in zip(lows, highs))
    for name, graph in entry["graphs"].items():
        batched = {k: ["batch", *v[1:]] for k, v in graph["inputs"].items()}
        assert {i.name: i.shape for i in sessions[name].get_inputs()} == batched, name
    assert sum(p.stat().st_size for p in out.iterdir()) < 5e6  # the graphs, the reference and the episodes


def test_actor_and_reading_graphs_compute_what_pytorch_computes(exported, shipped):
    _, manifest, sessions, _ = exported
    agent, checkpoint = shipped
    c, world = checkpoint.model.config, checkpoint.data_config
    gen = torch.Generator().manual_seed(0)
    h, z = torch.randn(64, c.deter_dim, generator=gen), torch.randn(64, c.latent_size, generator=gen)
    goal = torch.rand(64, 2, generator=gen) * world.grid_size
    (action,) = sessions["actor"].run(None, {"h": h.numpy(), "z": z.numpy(), "goal": goal.numpy()})
    (position,) = sessions["reading"].run(None, {"h": h.numpy(), "z": z.numpy()})
    with torch.no_grad():
        feats = torch.cat([h, z, goal_input(goal, world)], -1)
        np.testing.assert_allclose(action, agent.actor.mode(feats).numpy(), atol=1e-5)
        np.testing.assert_allclose(position, RewardReading(agent.reward, world.grid_size)(h, z).numpy(), atol=1e-4)
    assert np.abs(action).max() < 1


def test_episodes_are_the_planning_task_episodes(exported, shipped):
    _, _, _, exported_episodes = exported
    _, checkpoint = shipped
    task, world = PlanningTask(), checkpoint.data_config
    episodes = exported_episodes["episodes"]
    assert len(episodes) == TASK_EPISODES and exported_episodes["task"]["success_radius"] == task.success_radius
    for index in (0, 1, 42, TASK_EPISODES - 1):
        spec, entry = task.episode(index, world), episodes[index]
        assert entry["index"] == index
        np.testing.assert_array_equal(np.float32(entry["start"]), spec.start_state.numpy())
        np.testing.assert_array_equal(np.float32(entry["goal"]), spec.goal.numpy())
        assert entry["occluders"] == mask_rows(spec.occluder_mask)
    assert sum(e["actor"]["success"] for e in episodes) >= 0.7 * len(episodes)


def test_mask_rows_are_hex_with_the_leftmost_pixel_first():
    mask = torch.zeros(1, 3, 6, dtype=torch.bool)
    mask[0, 0, 0] = mask[0, 1, 5] = mask[0, 2, :] = True
    assert mask_rows(mask) == ["80", "04", "fc"]


def test_the_actor_replayed_through_the_graphs_takes_pytorch_actions(exported, shipped):
    """Filter each frame with prior_step + posterior_step, act with the actor graph, step the world: the
    page's loop, in Python. Every action matches the one PyTorch took, to float32 rounding."""
    _, manifest, sessions, episodes = exported
    _, checkpoint = shipped
    task, world = PlanningTask(), checkpoint.data_config
    m = manifest["model"]
    for entry in episodes["episodes"][:REPLAYED]:
        spec = task.episode(entry["index"], world)
        env = MovingDotEnv(world, spec)
        frame = env.reset()
        h, z = np.zeros((1, m["deter_dim"]), np.float32), np.zeros((1, m["latent_size"]), np.float32)
        noise, previous = np.zeros((1, m["noise_size"]), np.float32), np.zeros((1, 2), np.float32)
        goal = spec.goal.numpy().reshape(1, 2).astype(np.float32)
        for t in range(task.episode_steps):
            h, _, _ = sessions["prior_step"].run(None, {"h": h, "z": z, "action": previous, "noise": noise})
            z, _ = sessions["posterior_step"].run(None, {"h": h, "frame": frame.numpy()[None], "noise": noise})
            (previous,) = sessions["actor"].run(None, {"h": h, "z": z, "goal": goal})
            np.testing.assert_allclose(previous[0], entry["actor"]["actions"][t], atol=1e-4, err_msg=f"episode {entry['index']}, t={t}")
            frame = env.step(torch.from_numpy(previous[0]))
        distance = float(np.hypot(*(env.position.numpy() - spec.goal.numpy())))
        assert abs(distance - entry["actor"]["final_distance"]) < 1e-3


def test_export_without_an_agent_writes_none(tmp_path):
    done = subprocess.run([sys.executable, "-m", "rssm.export", str(tmp_path), "--agent", "none"],
                          capture_output=True, text=True, cwd=ROOT, check=False)
    assert done.returncode == 0, done.stderr
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert "agent" not in manifest
    assert not (tmp_path / "episodes.json").exists() and not (tmp_path / "actor.onnx").exists()


def test_export_refuses_an_agent_trained_in_another_model(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "rssm.export", str(tmp_path), "--checkpoint", "gaussian_pair", "--agent", str(SHIPPED_AGENT)],
        capture_output=True, text=True, cwd=ROOT, check=False,
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "trained in moving_dot_occluded.pt" in done.stderr, done.stderr
