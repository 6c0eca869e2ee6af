"""The objective: KL balancing, free bits, the reconstruction loss, overshooting, schedules and variants."""

import itertools
import os

import pytest
import torch

from rssm.dataset import MovingDotConfig, generate_moving_dot_sequences
from rssm.losses import LossConfig, compute_loss, dot_weight_at, training_objective
from rssm.model import RSSM, RSSMConfig
from rssm.utils import gaussian_kl, kl_balance, reconstruction_loss, set_seed


def _params(seed: int = 0, shape=(4, 5, 3)):
    g = torch.Generator().manual_seed(seed)
    post_mean = torch.randn(shape, generator=g).requires_grad_()
    post_std = (0.5 + torch.rand(shape, generator=g)).requires_grad_()
    prior_mean = torch.randn(shape, generator=g).requires_grad_()
    prior_std = (0.5 + torch.rand(shape, generator=g)).requires_grad_()
    return post_mean, post_std, prior_mean, prior_std


def test_gaussian_kl_matches_torch_distributions():
    q_m, q_s, p_m, p_s = (x.detach() for x in _params())
    expected = torch.distributions.kl_divergence(torch.distributions.Normal(q_m, q_s), torch.distributions.Normal(p_m, p_s)).sum(-1)
    torch.testing.assert_close(gaussian_kl(q_m, q_s, p_m, p_s), expected)


def test_kl_is_zero_for_identical_gaussians():
    m, s = torch.randn(2, 3), torch.rand(2, 3) + 0.1
    assert gaussian_kl(m, s, m, s).abs().max() < 1e-6


@pytest.mark.parametrize("balance", [0.8, 0.5, 0.0, 1.0])
def test_balance_splits_the_gradient_between_prior_and_posterior(balance):
    params = _params()
    loss, _ = kl_balance(*params, balance=balance, free_bits=0.0)
    loss.backward()
    balanced = [p.grad.clone() for p in params]
    plain = [p.detach().clone().requires_grad_() for p in params]
    gaussian_kl(*plain).mean().backward()
    post_mean, post_std, prior_mean, prior_std = (p.grad for p in plain)
    torch.testing.assert_close(balanced[2], balance * prior_mean)
    torch.testing.assert_close(balanced[3], balance * prior_std)
    torch.testing.assert_close(balanced[0], (1 - balance) * post_mean)
    torch.testing.assert_close(balanced[1], (1 - balance) * post_std)


def test_the_loss_value_is_the_plain_kl_when_no_step_is_under_the_free_bits():
    params = _params()
    loss, kl = kl_balance(*params, balance=0.8, free_bits=0.0)
    torch.testing.assert_close(loss, kl.mean())


def test_free_bits_per_step_zero_the_gradient_of_steps_below_the_floor():
    post_mean, post_std, prior_mean, prior_std = _params(shape=(2, 3, 4))
    with torch.no_grad():  # make step (0, 0) nearly free: posterior == prior there
        post_mean[0, 0] = prior_mean[0, 0]
        post_std[0, 0] = prior_std[0, 0]
    loss, kl = kl_balance(post_mean, post_std, prior_mean, prior_std, free_bits=1.0, free_bits_mode="step")
    assert kl[0, 0] < 1.0 and (kl.flatten()[1:] > 1.0).any()
    loss.backward()
    assert prior_mean.grad[0, 0].abs().max() == 0
    assert prior_mean.grad[kl > 1.0].abs().max() > 0
    assert loss.item() == pytest.approx(kl.clamp(min=1.0).mean().item(), rel=1e-5)


def test_free_bits_on_the_batch_mean_clamp_the_average_not_each_step():
    params = _params()
    _, kl = kl_balance(*params, free_bits=0.0)
    loss, _ = kl_balance(*params, free_bits=float(kl.mean()) + 1.0, free_bits_mode="batch")
    assert loss.item() == pytest.approx(float(kl.mean()) + 1.0)
    loss.backward()
    assert all(p.grad is None or p.grad.abs().max() == 0 for p in params)


@pytest.mark.parametrize("kwargs, match", [({"balance": 1.5}, "balance"), ({"free_bits": -1.0}, "free_bits"), ({"free_bits_mode": "mean"}, "free_bits_mode")])
def test_bad_kl_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        kl_balance(*_params(), **kwargs)


def test_reconstruction_sums_over_pixels_and_averages_over_batch_and_time():
    recon, target = torch.zeros(2, 3, 1, 4, 4), torch.ones(2, 3, 1, 4, 4)
    assert reconstruction_loss(recon, target).item() == pytest.approx(16.0)
    with pytest.raises(ValueError, match="dot_weight"):
        reconstruction_loss(recon, target, dot_weight=-1)


def test_dot_weight_counts_moving_pixels_more_and_static_background_once():
    target = torch.full((1, 3, 1, 2, 2), 0.35)  # a static gray "occluder" everywhere
    target[0, 1, 0, 0, 0] = 1.0  # a dot passes pixel (0, 0) at t = 1 only
    recon = torch.zeros_like(target)
    plain = (target**2).flatten(2).sum(-1).mean()
    weighted = reconstruction_loss(recon, target, dot_weight=2.0)
    # only the dot's pixel differs from the median frame, by 0.65: its error counts 1 + 2 * 0.65 times
    expected = plain + (2.0 * 0.65 * 1.0**2) / 3
    assert weighted.item() == pytest.approx(expected.item(), rel=1e-5)


def test_set_seed_repeats_random_draws():
    set_seed(3)
    a = torch.randn(3)
    set_seed(3)
    assert torch.equal(a, torch.randn(3))
    with pytest.raises(ValueError, match="seed"):
        set_seed("3")


def test_set_seed_leaves_the_hash_seed_alone_since_it_only_acts_when_python_starts(monkeypatch):
    monkeypatch.delenv("PYTHONHASHSEED", raising=False)
    set_seed(3)
    assert "PYTHONHASHSEED" not in os.environ


def test_dot_weight_has_no_effect_on_single_frames_where_no_background_can_be_found():
    target = torch.rand(2, 1, 1, 4, 4)
    blank = torch.zeros_like(target)
    assert reconstruction_loss(blank, target, dot_weight=5.0) == reconstruction_loss(blank, target)


# ----- the objective of a batch: overshooting, schedules, variants ------------------------------------

TINY_MODEL = {"image_size": 16, "deter_dim": 32, "stoch_dim": 8, "hidden_dim": 32, "embed_dim": 32, "cnn_depth": 8,
              "cnn_layers": 2}
TINY_DATA = {"grid_size": 16, "seq_len": 12, "occluder_min_size": 3, "occluder_max_size": 5}


def tiny_loss_config(**overrides) -> LossConfig:
    return LossConfig(**{"K": 4, "dot_weight": 10.0, **overrides})


def tiny_batch(seq_len: int = 12) -> tuple[RSSM, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    batch = generate_moving_dot_sequences(MovingDotConfig(**{**TINY_DATA, "seq_len": seq_len}), 4, seed=3)
    return RSSM(RSSMConfig(**TINY_MODEL)), batch["obs"], batch["actions"]


@pytest.mark.parametrize("mode", ["latent", "pixels"])
def test_overshoot_adds_its_weighted_open_loop_term_to_the_loss(mode):
    model, obs, actions = tiny_batch()
    results = {}
    for weight in (0.0, 2.0):
        torch.manual_seed(1)  # the same posterior samples in both calls
        loss, parts = compute_loss(model, obs, actions, tiny_loss_config(overshoot=weight, overshoot_mode=mode))
        results[weight] = (loss.item(), parts)
    assert "overshoot" not in results[0.0][1]
    overshoot = results[2.0][1]["overshoot"]
    assert overshoot > 0
    assert results[2.0][0] == pytest.approx(results[0.0][0] + 2.0 * overshoot, rel=1e-5)


def test_overshoot_rolls_the_prior_from_frame_k_minus_1_with_the_actions_that_drive_each_frame(monkeypatch):
    """The open-loop term must start from the filtered state after frame K-1 and feed actions[:, K-1+i]
    into the step that predicts frame K+i: one frame later and the model would be told the answer."""
    model, obs, actions = tiny_batch()
    config = tiny_loss_config(overshoot=1.0)
    calls = []
    real_imagine = model.imagine

    def spy(state, prev_actions, sample=False, decode=True):
        calls.append((state, prev_actions, sample))
        return real_imagine(state, prev_actions, sample, decode)

    monkeypatch.setattr(model, "imagine", spy)
    torch.manual_seed(1)
    compute_loss(model, obs, actions, config)
    (state, prev_actions, sample), = calls
    torch.manual_seed(1)
    filtered = model(obs, actions)
    K = config.K
    assert torch.equal(state.h, filtered.h[:, K - 1]) and torch.equal(state.z, filtered.z[:, K - 1])
    assert torch.equal(prev_actions, actions[:, K - 1 : -1]) and prev_actions.shape[1] == obs.shape[1] - K
    assert sample is False  # the prior's mean, as in RSSM.open_loop_rollout


def test_overshoot_cannot_see_the_frames_it_predicts():
    """Changing frames K.. changes the overshoot term only through its targets, never through its inputs."""
    model, obs, actions = tiny_batch()
    config = tiny_loss_config(overshoot=1.0)
    K = config.K
    captured = []
    real_imagine = model.imagine

    def spy(state, prev_actions, sample=False, decode=True):
        captured.append(real_imagine(state, prev_actions, sample, decode=True))  # render them to compare
        return captured[-1]

    model.imagine = spy
    changed = obs.clone()
    changed[:, K:] = torch.rand_like(changed[:, K:])
    for frames in (obs, changed):
        torch.manual_seed(1)
        compute_loss(model, frames, actions, config)
    assert torch.equal(captured[0].recon, captured[1].recon)
    assert torch.equal(captured[0].prior_mean, captured[1].prior_mean)


def test_overshoot_skips_windows_no_longer_than_the_context():
    model, obs, actions = tiny_batch(seq_len=4)
    _, parts = compute_loss(model, obs, actions, tiny_loss_config(overshoot=1.0, K=4))
    assert "overshoot" not in parts


def test_latent_overshoot_trains_the_dynamics_and_never_the_decoder():
    """KL(sg(q) || p_open-loop) adds gradient to the GRU and the prior (and, through the start state, to
    the filter), none to the decoder: its gradients are the same with and without the term."""
    model, obs, actions = tiny_batch()
    grads = {}
    for weight in (0.0, 1.0):
        model.zero_grad()
        torch.manual_seed(1)
        loss, _ = compute_loss(model, obs, actions, tiny_loss_config(overshoot=weight, overshoot_mode="latent"))
        loss.backward()
        grads[weight] = {name: p.grad.clone() for name, p in model.named_parameters()}
    changed = {name for name in grads[0.0] if not torch.allclose(grads[0.0][name], grads[1.0][name], atol=1e-7, rtol=0)}
    assert {"prior_net.0.weight", "gru_input.0.weight"} <= changed
    assert not {name for name in changed if name.startswith("decoder")}



def test_the_dot_weight_holds_then_decays_geometrically_to_its_final_value():
    config = LossConfig(dot_weight=30.0, dot_weight_final=1.0, dot_weight_decay_start=200, dot_weight_decay_end=800)
    assert dot_weight_at(0, config) == dot_weight_at(200, config) == 30.0
    assert dot_weight_at(500, config) == pytest.approx(30.0 ** 0.5)  # halfway in log space
    assert dot_weight_at(800, config) == dot_weight_at(10_000, config) == 1.0
    weights = [dot_weight_at(step, config) for step in range(0, 1000, 10)]
    assert all(b <= a for a, b in itertools.pairwise(weights))
    constant = LossConfig(dot_weight=5.0, dot_weight_final=5.0)
    assert {dot_weight_at(step, constant) for step in (0, 500, 5000)} == {5.0}
    to_zero = LossConfig(dot_weight=10.0, dot_weight_final=0.0, dot_weight_decay_start=0, dot_weight_decay_end=10)
    assert dot_weight_at(5, to_zero) == pytest.approx(5.0)  # linear when either end is 0




def test_the_training_objective_uses_the_scheduled_dot_weight():
    model, obs, actions = tiny_batch()
    config = LossConfig(dot_weight=30.0, dot_weight_final=1.0, dot_weight_decay_start=0, dot_weight_decay_end=10)
    for step in (0, 5, 20):
        torch.manual_seed(1)
        loss, _ = training_objective(model, obs, actions, config, step)
        torch.manual_seed(1)
        expected, _ = compute_loss(model, obs, actions, config, dot_weight=dot_weight_at(step, config))
        assert loss.item() == expected.item()


def test_the_unweighted_reconstruction_is_the_frames_own_error_whatever_the_dot_weight():
    """parts["recon"] is what the optimiser sees; parts["recon_unweighted"] counts every pixel once (chapter 4)."""
    model, obs, actions = tiny_batch()
    parts = {}
    for weight in (0.0, 1.0, 30.0):
        torch.manual_seed(1)  # the same posterior samples, so the same decoded frames
        _, parts[weight] = compute_loss(model, obs, actions, tiny_loss_config(), dot_weight=weight)
    with torch.no_grad():
        torch.manual_seed(1)
        plain = reconstruction_loss(model(obs, actions).recon, obs).item()
    assert parts[0.0]["recon"] == parts[0.0]["recon_unweighted"]  # weight 0: every pixel counts once
    for weight in (1.0, 30.0):
        assert parts[weight]["recon"] > parts[weight]["recon_unweighted"]  # the dot's pixels count 1 + w times
        assert parts[weight]["recon_unweighted"] == pytest.approx(plain, rel=1e-6)
    assert parts[30.0]["recon"] > parts[1.0]["recon"]


def test_a_replaced_reconstruction_term_changes_only_the_frame_term():
    """Chapter 8's pixel-mean variant: the same call with another frame term, overshooting included."""
    model, obs, actions = tiny_batch()
    config = tiny_loss_config(overshoot=1.0, overshoot_mode="pixels")
    pixels = obs[0, 0].numel()

    def pixel_mean(recon, target, weight):
        return reconstruction_loss(recon, target, weight) / pixels

    torch.manual_seed(1)
    _, summed = compute_loss(model, obs, actions, config)
    torch.manual_seed(1)
    _, averaged = compute_loss(model, obs, actions, config, reconstruction=pixel_mean)
    assert averaged["recon"] == pytest.approx(summed["recon"] / pixels, rel=1e-5)
    assert averaged["overshoot"] == pytest.approx(summed["overshoot"] / pixels, rel=1e-5)
    assert averaged["kl"] == summed["kl"]
    assert averaged["recon_unweighted"] == summed["recon_unweighted"]  # the frame's error, summed as ever


@pytest.mark.parametrize("field, value", [("kl_balance", 2.0), ("free_bits_mode", "sum"), ("dot_weight_final", -1.0),
                                          ("dot_weight_decay_end", 10), ("overshoot", -0.5), ("overshoot", float("nan")),
                                          ("overshoot_mode", "frames"), ("K", 0), ("beta", True)])
def test_bad_loss_config_raises_naming_the_field(field, value):
    with pytest.raises(ValueError, match=f"LossConfig.{field}="):
        LossConfig(**{field: value, **({"dot_weight_decay_start": 200} if field == "dot_weight_decay_end" else {})})


def test_the_old_home_still_exports_the_losses():
    import rssm.losses
    import rssm.utils

    for name in ("kl_balance", "gaussian_kl", "reconstruction_loss", "foreground"):
        assert getattr(rssm.utils, name) is getattr(rssm.losses, name)


# ----- the balanced KL for either latent (chapter 10) ---------------------------------------------------


def _categoricals(seed: int = 0, shape=(4, 5), variables: int = 3, classes: int = 6):
    from rssm.distributions import Categorical

    g = torch.Generator().manual_seed(seed)
    post_raw = (2 * torch.randn(*shape, variables * classes, generator=g)).requires_grad_()
    prior_raw = (2 * torch.randn(*shape, variables * classes, generator=g)).requires_grad_()
    return post_raw, prior_raw, lambda raw: Categorical.from_logits(raw, classes)


def test_balanced_kl_of_gaussians_is_kl_balance_of_their_parameters():
    from rssm.distributions import Gaussian
    from rssm.losses import balanced_kl

    post_mean, post_std, prior_mean, prior_std = _params()
    for free_bits, mode in ((0.0, "step"), (1.0, "step"), (2.0, "batch")):
        expected = kl_balance(post_mean, post_std, prior_mean, prior_std, 0.8, free_bits, mode)
        got = balanced_kl(Gaussian(post_mean, post_std), Gaussian(prior_mean, prior_std), 0.8, free_bits, mode)
        assert torch.equal(got[0], expected[0]) and torch.equal(got[1], expected[1])


@pytest.mark.parametrize("balance", [0.8, 0.0, 1.0])
def test_balance_splits_the_categorical_gradient_between_prior_and_posterior(balance):
    from rssm.losses import balanced_kl

    post_raw, prior_raw, dist = _categoricals()
    loss, kl = balanced_kl(dist(post_raw), dist(prior_raw), balance=balance, free_bits=0.0)
    loss.backward()
    plain_post, plain_prior = (x.detach().clone().requires_grad_() for x in (post_raw, prior_raw))
    dist(plain_post).kl(dist(plain_prior)).mean().backward()
    torch.testing.assert_close(prior_raw.grad, balance * plain_prior.grad)
    torch.testing.assert_close(post_raw.grad, (1 - balance) * plain_post.grad)
    torch.testing.assert_close(loss, kl.mean())


def test_free_bits_clamp_the_categorical_kl_of_each_step():
    from rssm.losses import balanced_kl

    post_raw, prior_raw, dist = _categoricals()
    with torch.no_grad():
        post_raw[0, 0] = prior_raw[0, 0]  # step (0, 0) costs nothing: under the floor
    loss, kl = balanced_kl(dist(post_raw), dist(prior_raw), free_bits=1.0)
    assert kl[0, 0] < 1e-5 and (kl > 1.0).any()
    assert loss.item() == pytest.approx(kl.clamp(min=1.0).mean().item(), rel=1e-5)
    loss.backward()
    assert prior_raw.grad[0, 0].abs().max() == 0 and post_raw.grad[0, 0].abs().max() == 0


def test_balanced_kl_refuses_a_gaussian_against_a_categorical():
    from rssm.distributions import Gaussian
    from rssm.losses import balanced_kl

    _, prior_raw, dist = _categoricals()
    post_mean, post_std, _, _ = _params()
    with pytest.raises(ValueError, match="one kind"):
        balanced_kl(Gaussian(post_mean, post_std), dist(prior_raw))


@pytest.mark.parametrize("overshoot_mode", ["latent", "pixels"])
def test_the_objective_trains_a_categorical_model_with_and_without_overshooting(overshoot_mode):
    model = RSSM(RSSMConfig(**{**TINY_MODEL, "latent": "categorical", "classes": 4}))
    _, obs, actions = tiny_batch()
    for weight in (0.0, 1.0):
        model.zero_grad()
        loss, parts = compute_loss(model, obs, actions, tiny_loss_config(overshoot=weight, overshoot_mode=overshoot_mode))
        loss.backward()
        assert torch.isfinite(loss) and parts["kl"] > 0 and (weight == 0 or parts["overshoot"] > 0)
        assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


def test_the_final_dot_weight_left_to_the_world_is_5_with_occluders_and_1_without():
    from rssm.dataset import MovingDotConfig

    config = LossConfig()
    assert config.dot_weight_final is None
    assert config.for_world(MovingDotConfig(use_occlusion=True)).dot_weight_final == 5.0
    assert config.for_world(MovingDotConfig(use_occlusion=False)).dot_weight_final == 1.0
    chosen = LossConfig(dot_weight_final=2.0)
    assert chosen.for_world(MovingDotConfig()) is chosen  # a value the user chose is kept
    with pytest.raises(ValueError, match="for_world"):
        dot_weight_at(1000, config)
