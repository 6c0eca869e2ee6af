"""The latent distributions: the Gaussian and the one-hot categorical with unimix and straight-through gradients."""

import math

import pytest
import torch
from torch.distributions import Normal, OneHotCategorical, kl_divergence

from rssm.distributions import Categorical, Gaussian, gaussian_kl, stack

C = 8  # classes in these tests


def _raw(seed: int = 0, shape=(4, 5, 3 * C), scale: float = 2.0) -> torch.Tensor:
    return scale * torch.randn(shape, generator=torch.Generator().manual_seed(seed))


def test_categorical_samples_are_exactly_one_hot_per_variable():
    z = Categorical.from_logits(_raw(), C).sample()  # (4, 5, 3 * C)
    assert z.shape == (4, 5, 3 * C)
    per_variable = z.unflatten(-1, (3, C))
    assert set(per_variable.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(per_variable.sum(-1), torch.ones(4, 5, 3))


def test_sampled_classes_follow_the_probabilities():
    dist = Categorical.from_logits(_raw(shape=(C,)), C)  # one variable
    torch.manual_seed(0)
    counts = Categorical(dist.logits.expand(20_000, 1, C)).sample().sum(0)  # (C,)
    torch.testing.assert_close(counts / 20_000, dist.probs[0], atol=0.015, rtol=0)


def test_the_mean_path_picks_each_variables_most_likely_class():
    dist = Categorical.from_logits(_raw(), C)
    mode = dist.mode.unflatten(-1, (3, C))
    assert torch.equal(mode.argmax(-1), dist.probs.argmax(-1))
    assert torch.equal(mode.sum(-1), torch.ones(4, 5, 3))
    assert torch.equal(Categorical.from_logits(_raw(), C).mode, dist.mode)  # no randomness


@pytest.mark.parametrize("read", ["sample", "mode"])
def test_straight_through_gradients_are_those_of_the_probabilities(read):
    """z = one_hot + probs - sg(probs): d loss / d logits is what it would be with z = probs."""
    raw = _raw().requires_grad_()
    weights = torch.randn(4, 5, 3 * C)
    dist = Categorical.from_logits(raw, C)
    z = dist.sample() if read == "sample" else dist.mode
    (z * weights).sum().backward()
    expected_raw = raw.detach().clone().requires_grad_()
    (Categorical.from_logits(expected_raw, C).probs.flatten(-2) * weights).sum().backward()
    assert raw.grad.abs().max() > 0
    torch.testing.assert_close(raw.grad, expected_raw.grad)


@pytest.mark.parametrize("unimix", [0.01, 0.1])
def test_the_unimix_floor_holds_even_for_extreme_logits(unimix):
    raw = _raw(scale=1e4)  # a softmax of these is one-hot to machine precision
    probs = Categorical.from_logits(raw, C, unimix).probs
    assert probs.min() >= unimix / C * (1 - 1e-5)
    torch.testing.assert_close(probs.sum(-1), torch.ones(4, 5, 3))
    assert torch.isfinite(Categorical.from_logits(raw, C, unimix).kl(Categorical.from_logits(-raw, C, unimix))).all()


def test_unimix_mixes_in_exactly_that_share_of_the_uniform_distribution():
    raw = _raw()
    plain = torch.softmax(raw.unflatten(-1, (3, C)), -1)
    torch.testing.assert_close(Categorical.from_logits(raw, C, 0.01).probs, 0.99 * plain + 0.01 / C)
    torch.testing.assert_close(Categorical.from_logits(raw, C, 0.0).probs, plain)


def test_categorical_kl_matches_torch_distributions_on_random_logits():
    q, p = Categorical.from_logits(_raw(1), C), Categorical.from_logits(_raw(2), C)
    expected = kl_divergence(OneHotCategorical(logits=q.logits), OneHotCategorical(logits=p.logits)).sum(-1)
    assert q.kl(p).shape == (4, 5)
    torch.testing.assert_close(q.kl(p), expected)
    assert q.kl(q).abs().max() < 1e-5


def test_categorical_entropy_matches_torch_and_is_at_most_log_classes_per_variable():
    dist = Categorical.from_logits(_raw(), C)
    torch.testing.assert_close(dist.entropy(), OneHotCategorical(logits=dist.logits).entropy().sum(-1))
    assert (dist.entropy() <= 3 * math.log(C) + 1e-5).all()


def test_gaussian_kl_and_entropy_match_torch_distributions():
    g = torch.Generator().manual_seed(0)
    q = Gaussian(torch.randn(4, 6, generator=g), 0.5 + torch.rand(4, 6, generator=g))
    p = Gaussian(torch.randn(4, 6, generator=g), 0.5 + torch.rand(4, 6, generator=g))
    torch.testing.assert_close(q.kl(p), kl_divergence(Normal(*q), Normal(*p)).sum(-1))
    torch.testing.assert_close(q.kl(p), gaussian_kl(q.mean, q.std, p.mean, p.std))
    torch.testing.assert_close(q.entropy(), Normal(*q).entropy().sum(-1))


def test_the_gaussian_mean_path_is_its_mean_and_its_sample_is_the_reparameterised_one():
    q = Gaussian.from_raw(_raw(shape=(4, 12)), min_std=0.1)
    assert q.mode is q.mean and q.mean.shape == q.std.shape == (4, 6)
    assert (q.std >= 0.1).all()
    torch.manual_seed(3)
    a = q.sample()
    torch.manual_seed(3)
    torch.testing.assert_close(a, q.mean + q.std * torch.randn_like(q.std))


@pytest.mark.parametrize("kind", ["gaussian", "categorical"])
def test_detach_map_and_stack_keep_the_kind_and_the_values(kind):
    steps = [Gaussian.from_raw(_raw(t, (2, 6)).requires_grad_(), 0.1) if kind == "gaussian"
             else Categorical.from_logits(_raw(t, (2, 3 * C)).requires_grad_(), C) for t in range(5)]
    seq = stack(steps)  # batch shape (2, 5)
    assert type(seq) is type(steps[0])
    assert seq.kl(seq).shape == (2, 5)
    torch.testing.assert_close(seq.map(lambda x: x[:, 3]).kl(steps[0]), steps[3].kl(steps[0]))
    assert all(not x.requires_grad for x in seq.detach()) and all(x.requires_grad for x in seq)
