"""The notebook player (rssm.play): the kernel side computes the model's own frames, and the front end
is the Play page's player, joined into one ES module."""

import dataclasses
import shutil
import subprocess

import numpy as np
import pytest
import torch

from rssm.dataset import MovingDotConfig
from rssm.model import LATENTS, RSSM, RSSMState
from rssm.play import WEB_DIR, WIDGET_MODULES, KernelStepper, PlayWidget, widget_esm

K = 4


@pytest.fixture(params=LATENTS)
def small_model(request, small_model_config):
    """Every test here runs for both kinds of latent: the player never asks which one it holds."""
    return RSSM(dataclasses.replace(small_model_config, latent=request.param, classes=4))


def step_through(stepper, obs, actions, watch_until, noise=None):
    """Feed one sequence to a stepper as the player does: (T, 1, H, W) frames back."""
    stepper.reset()
    out = []
    for t in range(obs.shape[0]):
        previous = torch.zeros(2) if t == 0 else actions[t - 1]
        watched = t < watch_until
        eps = None if noise is None or watched else noise[t]
        out.append(stepper.step(previous, obs[t].flatten() if watched else None, eps))
    return torch.stack(out)


def test_watching_every_frame_gives_the_frames_of_observe(small_model, small_batch):
    obs, actions = small_batch["obs"][0], small_batch["actions"][0]
    frames = step_through(KernelStepper(small_model), obs, actions, watch_until=obs.shape[0])
    with torch.no_grad():
        expected = small_model.observe(obs[None], actions[None], sample=False).recon[0]
    torch.testing.assert_close(frames, expected, atol=1e-6, rtol=0)


def test_dreaming_after_K_frames_gives_the_open_loop_rollout(small_model, small_batch):
    obs, actions = small_batch["obs"][0], small_batch["actions"][0]
    frames = step_through(KernelStepper(small_model), obs, actions, watch_until=K)
    with torch.no_grad():
        expected = small_model.open_loop_rollout(obs[None, :K], actions[None, :K], actions[None, K:], K)[0]
    torch.testing.assert_close(frames[K:], expected, atol=1e-6, rtol=0)


def test_a_sample_is_the_one_the_noise_draws_from_the_prior(small_model, small_batch):
    obs, actions = small_batch["obs"][0], small_batch["actions"][0]
    noise = torch.randn(obs.shape[0], small_model.config.noise_size)
    frames = step_through(KernelStepper(small_model), obs, actions, watch_until=K, noise=noise)
    with torch.no_grad():
        context = small_model.observe(obs[None, :K], actions[None, :K], sample=False)
        state = RSSMState(context.h[:, -1], context.z[:, -1])
        for t in range(K, obs.shape[0]):
            h, prior = small_model.prior_step(state, actions[None, t - 1])
            state = RSSMState(h, prior.sample(noise[t : t + 1]))
            torch.testing.assert_close(frames[t], small_model.decode(state.h, state.z)[0], atol=1e-6, rtol=0)


def test_stepper_refuses_wrong_sizes(small_model):
    stepper = KernelStepper(small_model)
    with pytest.raises(ValueError, match="action: expected 2"):
        stepper.step([1.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="frame: expected 256"):
        stepper.step([0.0, 0.0], frame=np.zeros(10))
    with pytest.raises(ValueError, match="noise"):
        stepper.step([0.0, 0.0], noise=[float("nan")] * small_model.config.noise_size)
    with pytest.raises(ValueError, match="RSSM"):
        KernelStepper("not a model")


# ----- the widget's messages ------------------------------------------------------------------------


@pytest.fixture
def widget(small_model, small_data_config):
    return PlayWidget(small_model, small_data_config, K=K)


def test_widget_tells_the_front_end_the_world_K_and_the_size_of_z(widget, small_data_config, small_model):
    assert widget.world == small_data_config.to_dict()
    assert widget.K == K and widget.noise_size == small_model.config.noise_size


def test_widget_answers_steps_with_the_models_frames(widget, small_model, small_batch):
    """The messages the front end sends (the true frame as float32 bytes) give observe's frames back."""
    obs, actions = small_batch["obs"][0], small_batch["actions"][0]
    reply, buffers = widget.handle_message({"type": "reset", "id": 1}, [])
    assert reply == {"type": "ready", "id": 1} and buffers == []
    frames = []
    for t in range(obs.shape[0]):
        previous = [0.0, 0.0] if t == 0 else actions[t - 1].tolist()
        message = {"type": "step", "id": 2 + t, "action": previous, "watch": True, "noise": None}
        reply, buffers = widget.handle_message(message, [memoryview(obs[t].numpy().astype("<f4").tobytes())])
        assert reply == {"type": "frame", "id": 2 + t}
        frames.append(np.frombuffer(buffers[0], dtype="<f4").reshape(obs.shape[1:]))
    with torch.no_grad():
        expected = small_model.observe(obs[None], actions[None], sample=False).recon[0]
    np.testing.assert_allclose(np.stack(frames), expected.numpy(), atol=1e-6, rtol=0)


@pytest.mark.parametrize(
    "message, buffers, error",
    [
        ({"type": "jump", "id": 9}, [], "unknown message type"),
        ({"type": "step", "id": 9, "action": [0, 0], "watch": True, "noise": None}, [], "needs the frame"),
        ({"type": "step", "id": 9, "action": [0], "watch": False, "noise": None}, [], "action"),
        ({"type": "step", "id": 9, "action": [0, 0], "watch": False, "noise": [1.0]}, [], "noise"),
    ],
)
def test_widget_answers_a_bad_message_with_an_error(widget, message, buffers, error):
    reply, reply_buffers = widget.handle_message(message, buffers)
    assert reply["type"] == "error" and reply["id"] == 9 and error in reply["message"]
    assert reply_buffers == []


def test_widget_refuses_a_world_the_model_cannot_read(small_model):
    with pytest.raises(ValueError, match="disagree"):
        PlayWidget(small_model, MovingDotConfig(grid_size=32))
    with pytest.raises(ValueError, match="K="):
        PlayWidget(small_model, MovingDotConfig(grid_size=16), K=0)


# ----- the front end ----------------------------------------------------------------------------------


def test_widget_front_end_is_the_pages_player_in_one_module():
    bundle = widget_esm()
    assert 'from "./' not in bundle
    for name in WIDGET_MODULES:  # every line of every module is in, except the imports of each other
        for line in (WEB_DIR / name).read_text().splitlines():
            if not line.startswith("import "):
                assert line in bundle, f"{name}: {line!r} is missing from the widget's module"
    assert PlayWidget._esm == bundle


@pytest.mark.skipif(shutil.which("node") is None, reason="node (Node.js) is not installed")
def test_widget_front_end_loads_as_an_es_module_with_a_render_function(tmp_path):
    path = tmp_path / "widget.mjs"
    path.write_text(widget_esm())
    script = f"const m = await import({path.as_uri()!r}); console.log(typeof m.default.render, typeof m.Player);"
    command = ["node", "--input-type=module", "-e", script]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["function", "function"]
