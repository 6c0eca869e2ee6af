"""KL balancing, free bits and the reconstruction loss."""

import pytest
import torch

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


def test_dot_weight_has_no_effect_on_single_frames_where_no_background_can_be_found():
    target = torch.rand(2, 1, 1, 4, 4)
    blank = torch.zeros_like(target)
    assert reconstruction_loss(blank, target, dot_weight=5.0) == reconstruction_loss(blank, target)
