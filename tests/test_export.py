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
from rssm.dataset import MovingDotConfig, dot_is_visible, draw_occluders, occluder_mask, play_sequence, render_dots
from rssm.export import (
    GRAPH_FILES,
    REFERENCE_STEPS,
    export_play_assets,
    read_reference,
    reference_rollouts,
    scripted_sequence,
)
from rssm.model import RSSMState

ROOT = Path(__file__).resolve().parents[1]
TOLERANCE = 1e-4  # per pixel
K = 8


@pytest.fixture(scope="module", params=["moving_dot_occluded", "categorical_pair"])
def checkpoint(request):
    """The book's model (a Gaussian latent) and chapter 10's categorical one: both kinds of latent export."""
    return load_pretrained(request.param)


@pytest.fixture(scope="module")
def exported(tmp_path_factory, checkpoint):
    """The page's assets for a shipped model: (manifest, reference frames, onnxruntime sessions)."""
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

    obs: (T, 1, H, W) float32; actions: (T, 2); frames t < watch_until are watched (posterior mode),
    later ones dreamed with the prior's mode, or with the sample noise[t] draws if noise (T, noise_size)
    is given.
    """
    model = manifest["model"]
    h, z = np.zeros((1, model["deter_dim"]), np.float32), np.zeros((1, model["latent_size"]), np.float32)
    zeros = np.zeros((1, model["noise_size"]), np.float32)
    out = []
    for t in range(obs.shape[0]):
        previous = np.zeros((1, 2), np.float32) if t == 0 else actions[t - 1 : t].astype(np.float32)
        eps = zeros if noise is None or t < watch_until else noise[t : t + 1].astype(np.float32)
        inputs = {"h": h, "z": z, "action": previous, "noise": eps}
        h, z_mode, z_sample = sessions["prior_step"].run(None, inputs)
        if t < watch_until:
            z, _ = sessions["posterior_step"].run(None, {"h": h, "frame": obs[t : t + 1], "noise": zeros})
        else:
            z = z_mode if noise is None else z_sample
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
    noise = torch.randn(REFERENCE_STEPS, manifest["model"]["noise_size"], generator=torch.Generator().manual_seed(3))
    ours = run_graphs(sessions, manifest, frames["truth"], actions, watch_until=K, noise=noise.numpy())
    model = checkpoint.model
    with torch.no_grad():  # the same rollout in PyTorch, z sampled with the same noise after the K watched frames
        obs, acts = torch.from_numpy(frames["truth"])[None], torch.from_numpy(actions)[None]
        context = model.observe(obs[:, :K], acts[:, :K], sample=False)
        state = RSSMState(context.h[:, -1], context.z[:, -1])
        expected = []
        for t in range(K, REFERENCE_STEPS):
            h, prior = model.prior_step(state, torch.from_numpy(actions[t - 1 : t]))
            state = RSSMState(h, prior.sample(noise[t : t + 1]))
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
        assert_batched_signature(sessions[name], graph, name)


def assert_batched_signature(session, graph, name):
    """The graph's inputs and outputs are the manifest's, each with a batch of any size in front."""
    batched = lambda shapes: {key: ["batch", *shape[1:]] for key, shape in shapes.items()}  # noqa: E731
    assert {i.name: i.shape for i in session.get_inputs()} == batched(graph["inputs"]), name
    assert {o.name: o.shape for o in session.get_outputs()} == batched(graph["outputs"]), name
    assert all(i.type == "tensor(float)" for i in session.get_inputs()), name


def test_the_step_graphs_take_a_batch(exported, checkpoint):
    """The page's planner imagines all its candidates at once: prior_step with a batch is the batch of steps."""
    manifest, _, sessions = exported
    c = checkpoint.model.config
    gen = torch.Generator().manual_seed(3)
    state = RSSMState(torch.randn(5, c.deter_dim, generator=gen), torch.randn(5, c.latent_size, generator=gen))
    actions = torch.rand(5, 2, generator=gen) * 2 - 1
    noise = torch.zeros(5, c.noise_size)
    inputs = {"h": state.h.numpy(), "z": state.z.numpy(), "action": actions.numpy(), "noise": noise.numpy()}
    h_next, z_mode, _ = sessions["prior_step"].run(None, inputs)
    with torch.no_grad():
        expected_h, prior = checkpoint.model.eval().prior_step(state, actions)
    np.testing.assert_allclose(h_next, expected_h.numpy(), atol=1e-5)
    np.testing.assert_allclose(z_mode, prior.mode.numpy(), atol=1e-5)


def test_the_graphs_share_no_weights_and_stay_small(exported, checkpoint):
    manifest, _, _ = exported
    sizes = {name: graph["bytes"] for name, graph in manifest["graphs"].items()}
    weights = 4 * sum(p.numel() for p in checkpoint.model.parameters())  # float32 bytes, each weight once
    assert weights < sum(sizes.values()) < 1.1 * weights, sizes  # no weight shipped twice (the GRU: prior_step only)
    assert sum(sizes.values()) < 4e6, sizes


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
    assert done.stderr.strip().count("\n") == 0 and "'nope': no such file, and not a shipped model" in done.stderr


def test_export_cli_plays_a_model_that_rssm_train_wrote(tmp_path):
    """A reader's own model.pt, written by the training command, exports by its path."""
    from rssm.cli import main as rssm_train

    run = tmp_path / "run"
    assert rssm_train(["--epochs", "1", "--grid_size", "16", "--seq_len", "24", "--batch_size", "8",
                       "--train_sequences", "8", "--val_sequences", "8", "--K", "4", "--chunk_len", "0",
                       "--deter_dim", "24", "--stoch_dim", "5", "--hidden_dim", "20", "--embed_dim", "12",
                       "--cnn_depth", "3", "--viz_interval", "5", "--device", "cpu", "--output_dir", str(run)]) == 0
    done = subprocess.run(
        [sys.executable, "-m", "rssm.export", str(tmp_path / "play"), "--checkpoint", str(run / "model.pt"), "--K", "4"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    manifest = json.loads((tmp_path / "play" / "manifest.json").read_text())
    assert manifest["model"]["checkpoint"] == "model.pt" and manifest["model"]["deter_dim"] == 24
    assert set(manifest["graphs"]) == set(GRAPH_FILES)


def test_export_of_a_small_model_runs_end_to_end(tmp_path, small_model, small_data_config):
    """Any model exports, not only the shipped one: a tiny one on a 16x16 world."""
    manifest_path = export_play_assets(tmp_path, small_model, small_data_config, K=4)
    manifest, frames = read_reference(manifest_path)
    assert json.loads(manifest_path.read_text())["reference"]["frame_shape"] == [1, 16, 16]
    sessions = {n: onnxruntime.InferenceSession(str(tmp_path / g["file"])) for n, g in manifest["graphs"].items()}
    actions = np.array(manifest["reference"]["actions"], np.float32)
    ours = run_graphs(sessions, manifest, frames["truth"], actions, watch_until=4)
    assert np.abs(ours - frames["dream"]).max() <= TOLERANCE


def test_the_book_build_re_exports_when_any_code_the_export_runs_changes():
    """The Play page's ONNX files are redone when a module the export imports changes, the latents' too."""
    sys.path.insert(0, str(ROOT / "_ext"))
    try:
        import play_assets
    finally:
        sys.path.remove(str(ROOT / "_ext"))
    inputs = play_assets.export_inputs(ROOT)
    assert {"rssm/export.py", "rssm/model.py", "rssm/distributions.py", "rssm/dataset.py", "rssm/checkpoint.py"} <= set(inputs)
    assert "rssm/train.py" not in inputs  # only what the export runs
