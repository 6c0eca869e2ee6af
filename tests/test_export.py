"""The ONNX graphs of the Play page (rssm.export) compute what the PyTorch model computes.

The shipped checkpoint is exported once for the module; every graph is then run with onnxruntime
(the CPU build of the runtime the page runs in WebAssembly) on the scripted 40-frame sequence, one
frame at a time with the state (h, z) passed along, exactly as the page's JavaScript does.
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
import torch

from rssm import load_pretrained
from rssm.dataset import MovingDotConfig, dot_is_visible, draw_occluders, render_dots
from rssm.export import (
    GRAPH_FILES,
    REFERENCE_STEPS,
    export_play_assets,
    occluder_mask,
    play_sequence,
    read_reference,
    reference_rollouts,
    scripted_sequence,
)
from rssm.model import RSSMState

ROOT = Path(__file__).resolve().parents[1]
TOLERANCE = 1e-4  # per pixel
K = 8


@pytest.fixture(scope="module")
def checkpoint():
    return load_pretrained()


@pytest.fixture(scope="module")
def exported(tmp_path_factory, checkpoint):
    """The page's assets for the shipped model: (manifest, reference frames, onnxruntime sessions)."""
    out = tmp_path_factory.mktemp("play_assets")
    manifest_path = export_play_assets(out, checkpoint.model, checkpoint.data_config, K=K)
    manifest, frames = read_reference(manifest_path)
    sessions = {
        name: onnxruntime.InferenceSession(str(out / graph["file"]), providers=["CPUExecutionProvider"])
        for name, graph in manifest["graphs"].items()
    }
    return manifest, frames, sessions


def run_graphs(sessions, manifest, obs, actions, watch_until, noise=None):
    """Roll the graphs over a sequence as the page does; returns the decoded frames (T, 1, H, W).

    obs: (T, 1, H, W) float32; actions: (T, 2); frames t < watch_until are watched (posterior mean),
    later ones dreamed with the prior's mean, or mean + std * noise[t] if noise (T, stoch) is given.
    """
    deter, stoch = manifest["model"]["deter_dim"], manifest["model"]["stoch_dim"]
    h, z = np.zeros((1, deter), np.float32), np.zeros((1, stoch), np.float32)
    zeros = np.zeros((1, stoch), np.float32)
    out = []
    for t in range(obs.shape[0]):
        previous = np.zeros((1, 2), np.float32) if t == 0 else actions[t - 1 : t].astype(np.float32)
        eps = zeros if noise is None or t < watch_until else noise[t : t + 1].astype(np.float32)
        h, z_prior, _, _ = sessions["prior_step"].run(None, {"h": h, "z": z, "action": previous, "noise": eps})
        if t < watch_until:
            z, _, _ = sessions["posterior_step"].run(None, {"h": h, "frame": obs[t : t + 1], "noise": zeros})
        else:
            z = z_prior
        out.append(sessions["decoder"].run(None, {"h": h, "z": z})[0][0])
    return np.stack(out)


# ----- the numbers ---------------------------------------------------------------------------------


def test_graphs_reproduce_pytorch_watching_every_frame(exported, checkpoint):
    manifest, frames, sessions = exported
    actions = np.array(manifest["reference"]["actions"], np.float32)
    ours = run_graphs(sessions, manifest, frames["truth"], actions, watch_until=REFERENCE_STEPS)
    with torch.no_grad():
        obs, acts = torch.from_numpy(frames["truth"])[None], torch.from_numpy(actions)[None]
        pytorch = checkpoint.model.observe(obs, acts, sample=False).recon[0]
    difference = np.abs(ours - pytorch.numpy()).max()
    assert difference <= TOLERANCE, f"watching: the graphs differ from PyTorch by {difference:.2e} per pixel"


def test_graphs_reproduce_pytorch_dreaming_after_K_frames(exported, checkpoint):
    manifest, frames, sessions = exported
    actions = np.array(manifest["reference"]["actions"], np.float32)
    ours = run_graphs(sessions, manifest, frames["truth"], actions, watch_until=K)
    obs, acts = torch.from_numpy(frames["truth"])[None], torch.from_numpy(actions)[None]
    with torch.no_grad():
        pytorch = checkpoint.model.open_loop_rollout(obs[:, :K], acts[:, :K], acts[:, K:], K)[0]  # frames K..T-1
    difference = np.abs(ours[K:] - pytorch.numpy()).max()
    assert difference <= TOLERANCE, f"dreaming: the graphs differ from PyTorch by {difference:.2e} per pixel"


def test_graphs_sample_the_prior_with_the_noise_they_are_given(exported, checkpoint):
    manifest, frames, sessions = exported
    actions = np.array(manifest["reference"]["actions"], np.float32)
    noise = torch.randn(REFERENCE_STEPS, manifest["model"]["stoch_dim"], generator=torch.Generator().manual_seed(3))
    ours = run_graphs(sessions, manifest, frames["truth"], actions, watch_until=K, noise=noise.numpy())
    model = checkpoint.model
    with torch.no_grad():  # the same rollout in PyTorch, z = mean + std * noise after the K watched frames
        obs, acts = torch.from_numpy(frames["truth"])[None], torch.from_numpy(actions)[None]
        context = model.observe(obs[:, :K], acts[:, :K], sample=False)
        state = RSSMState(context.h[:, -1], context.z[:, -1])
        expected = []
        for t in range(K, REFERENCE_STEPS):
            h, prior = model.prior_step(state, torch.from_numpy(actions[t - 1 : t]))
            state = RSSMState(h, prior.mean + prior.std * noise[t : t + 1])
            expected.append(model.decode(state.h, state.z)[0])
    difference = np.abs(ours[K:] - torch.stack(expected).numpy()).max()
    assert difference <= TOLERANCE, f"sampling: the graphs differ from PyTorch by {difference:.2e} per pixel"
    assert np.abs(ours[K:] - frames["dream"][K:]).max() > 1e-2, "a sample should differ from the prior's mean"


def test_reference_frames_are_what_pytorch_and_the_world_compute(exported, checkpoint):
    manifest, frames, _ = exported
    sequence = scripted_sequence()
    played = play_sequence(sequence, checkpoint.data_config)
    np.testing.assert_array_equal(frames["truth"], played["obs"].numpy())
    np.testing.assert_allclose(manifest["reference"]["positions"], played["states"][:, :2].numpy(), atol=1e-6)
    expected = reference_rollouts(checkpoint.model, played["obs"], sequence.actions, K)
    for mode in ("watch", "dream"):
        np.testing.assert_allclose(frames[mode], expected[mode].numpy(), atol=1e-6, err_msg=mode)


# ----- what the page is told ---------------------------------------------------------------------


def test_manifest_describes_the_graphs_the_page_runs(exported, checkpoint):
    manifest, _, sessions = exported
    assert manifest["K"] == K
    assert MovingDotConfig.from_dict(manifest["world"]) == checkpoint.data_config
    assert manifest["model"]["deter_dim"] == checkpoint.model.config.deter_dim
    assert set(manifest["graphs"]) == set(GRAPH_FILES)
    for name, graph in manifest["graphs"].items():
        session = sessions[name]
        assert {i.name: i.shape for i in session.get_inputs()} == graph["inputs"], name
        assert {o.name: o.shape for o in session.get_outputs()} == graph["outputs"], name
        assert all(i.type == "tensor(float)" for i in session.get_inputs()), name


def test_the_graphs_share_no_weights_and_stay_small(exported):
    manifest, _, _ = exported
    sizes = {name: graph["bytes"] for name, graph in manifest["graphs"].items()}
    # 734,737 float32 parameters = 2.94 MB; the GRU sits in prior_step only
    assert sum(sizes.values()) < 3.2e6, sizes
    assert sizes["posterior_step"] < 0.5 * sizes["prior_step"], sizes


def test_the_scripted_sequence_bounces_and_hides_the_dot():
    world = MovingDotConfig()
    sequence = scripted_sequence()
    played = play_sequence(sequence, world)
    states = played["states"]  # (T, 4)
    assert states.shape == (REFERENCE_STEPS, 4)
    flips = (torch.sign(states[1:, 2:]) * torch.sign(states[:-1, 2:]) < 0) & (states[:-1, 2:].abs() > 1.0)
    assert flips.any(), "the dot should bounce off a wall at full speed"
    visible = dot_is_visible(states[None, :, :2], occluder_mask(sequence.occluders, world)[None])[0]
    assert (~visible[:K]).any() and (~visible[K:]).any(), "the dot should hide both while watched and while dreamed"
    mask = occluder_mask(sequence.occluders, world)
    expected = draw_occluders(render_dots(states[None, :, :2], world), mask[None], world)[0]  # (T, 1, H, W)
    np.testing.assert_array_equal(played["obs"], expected)


# ----- refusals ----------------------------------------------------------------------------------


def test_export_refuses_a_world_the_model_cannot_read(tmp_path, small_model):
    with pytest.raises(ValueError, match="disagree"):
        export_play_assets(tmp_path, small_model, MovingDotConfig(grid_size=32))


@pytest.mark.parametrize("K_bad", [0, REFERENCE_STEPS, True])
def test_export_refuses_a_bad_K(tmp_path, small_model, small_data_config, K_bad):
    with pytest.raises(ValueError, match="K="):
        export_play_assets(tmp_path, small_model, small_data_config, K=K_bad)


def test_occluder_mask_refuses_a_bad_rectangle():
    with pytest.raises(ValueError, match="width and height"):
        occluder_mask(((1, 2, 0, 3),), MovingDotConfig())


def test_export_cli_says_what_is_wrong_in_one_line(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "rssm.export", str(tmp_path), "--checkpoint", "nope"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "unknown pretrained model 'nope'" in done.stderr


def test_export_of_a_small_model_runs_end_to_end(tmp_path, small_model, small_data_config):
    """Any model exports, not only the shipped one: a tiny one on a 16x16 world."""
    manifest_path = export_play_assets(tmp_path, small_model, small_data_config, K=4)
    manifest, frames = read_reference(manifest_path)
    assert json.loads(manifest_path.read_text())["reference"]["frame_shape"] == [1, 16, 16]
    sessions = {n: onnxruntime.InferenceSession(str(tmp_path / g["file"])) for n, g in manifest["graphs"].items()}
    actions = np.array(manifest["reference"]["actions"], np.float32)
    ours = run_graphs(sessions, manifest, frames["truth"], actions, watch_until=4)
    assert np.abs(ours - frames["dream"]).max() <= TOLERANCE
