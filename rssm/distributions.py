"""The two kinds of stochastic state z_t: a diagonal Gaussian, or a vector of one-hot categoricals.

PlaNet and DreamerV1 use a diagonal Gaussian. DreamerV2 and V3 use ``stoch_dim`` categorical
variables of ``classes`` classes each. z is then the concatenation of their one-hot samples, and
gradients pass through the sampling step by the straight-through estimator. DreamerV3 also mixes
1% of a uniform distribution into every categorical ("unimix"). Chapter 3 builds the Gaussian and
chapter 10 (``book/10_discrete_latents``) the categorical.

The two are small immutable records of tensors with the same interface, so the model, the losses
and the evaluation never need to ask which one they hold:

- ``sample(noise=None)``: a differentiable sample of z, flat (..., latent size). The Gaussian's is
  reparameterised; the categorical's is exactly one-hot, with straight-through gradients. Every kind
  draws its randomness as standard-normal ``noise`` of shape (..., noise size) and turns it into a
  sample its own way, so a caller that must hold the noise (the browser's graphs, a test) passes it in
  and never asks which kind it holds;
- ``mode``: the z of the "mean path" (evaluation, open-loop rollouts): the Gaussian's mean, or the
  one-hot of each variable's most likely class (straight-through, as in DreamerV2);
- ``kl(other)``: KL(self || other) summed over the whole latent, in nats, shape (...);
- ``entropy()``: summed over the whole latent, in nats, shape (...);
- ``detach()`` (a stop-gradient copy), ``map(fn)`` (apply ``fn`` to every tensor, e.g. to slice
  time) and :func:`stack` (stack per-step distributions along a new dimension).

Each kind also says how big it is for a model's config (any object with ``stoch_dim``, ``classes``,
``unimix`` and ``min_std``, such as :class:`rssm.model.RSSMConfig`): ``head_size`` (numbers a network
outputs to parameterise it), ``size`` (numbers in z: ``stoch_dim`` for the Gaussian, ``stoch_dim *
classes`` for the categorical), ``noise_size``, and ``from_head`` builds one from a network's output.
:data:`KINDS` maps each ``RSSMConfig.latent`` name to its class: this module is the only place that
knows what the kinds differ in.
"""

from __future__ import annotations

import math
import typing
from collections.abc import Callable, Sequence
from typing import Any, Literal, NamedTuple

import torch
from torch.nn import functional as F


def gaussian_kl(q_mean: torch.Tensor, q_std: torch.Tensor, p_mean: torch.Tensor, p_std: torch.Tensor) -> torch.Tensor:
    """KL(q || p) between diagonal Gaussians, summed over the last (latent) dimension, in nats.

    All inputs (..., stoch_dim); returns (...). Summing over latents (not averaging) keeps the KL in
    the same units as a summed reconstruction loss, so beta means what it says.
    """
    var_ratio = (q_std / p_std) ** 2
    mean_term = ((q_mean - p_mean) / p_std) ** 2
    return 0.5 * (var_ratio + mean_term - 1 - torch.log(var_ratio)).sum(-1)


class Gaussian(NamedTuple):
    """A diagonal Gaussian over z: mean and std, each (..., stoch_dim)."""

    mean: torch.Tensor
    std: torch.Tensor

    @classmethod
    def from_raw(cls, raw: torch.Tensor, min_std: float) -> Gaussian:
        """From a network's output (..., 2 * stoch_dim): the mean, and softplus + ``min_std`` for the std."""
        mean, raw_std = raw.chunk(2, -1)
        return cls(mean, F.softplus(raw_std) + min_std)

    @classmethod
    def from_head(cls, raw: torch.Tensor, config: Any) -> Gaussian:
        """From a network's output (..., ``head_size``) for a model of this ``config``."""
        return cls.from_raw(raw, config.min_std)

    @staticmethod
    def head_size(config: Any) -> int:
        """A mean and a raw std per dimension: 2 * stoch_dim."""
        return 2 * config.stoch_dim

    @staticmethod
    def size(config: Any) -> int:
        """Numbers in z: stoch_dim."""
        return config.stoch_dim

    @staticmethod
    def noise_size(config: Any) -> int:
        """One standard-normal number per dimension."""
        return config.stoch_dim

    def sample(self, noise: torch.Tensor | None = None) -> torch.Tensor:
        """A reparameterised sample of z, mean + std * noise, (..., stoch_dim): gradients flow into mean and std.

        noise: standard normal, (..., stoch_dim); drawn here when None. Zero noise gives the mean.
        """
        if noise is None:
            noise = torch.randn_like(self.std)
        return self.mean + self.std * noise

    def rsample(self) -> torch.Tensor:
        """:meth:`sample` under ``torch.distributions``' name for a reparameterised sample."""
        return self.sample()

    @property
    def mode(self) -> torch.Tensor:
        """The mean path's z: the mean, (..., stoch_dim)."""
        return self.mean

    def kl(self, other: Gaussian) -> torch.Tensor:
        """KL(self || other) summed over the latent, in nats: (...)."""
        return gaussian_kl(self.mean, self.std, other.mean, other.std)

    def entropy(self) -> torch.Tensor:
        """Differential entropy summed over the latent, in nats: (...)."""
        return (0.5 * math.log(2 * math.pi * math.e) + torch.log(self.std)).sum(-1)

    def detach(self) -> Gaussian:
        """The same distribution with no gradient to its parameters (stop-gradient)."""
        return Gaussian(self.mean.detach(), self.std.detach())

    def map(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> Gaussian:
        """Apply ``fn`` to mean and std, e.g. ``lambda x: x[:, K:]`` to keep time steps K onwards."""
        return Gaussian(fn(self.mean), fn(self.std))


class Categorical(NamedTuple):
    """``stoch_dim`` independent categorical variables: normalised log-probabilities (..., stoch_dim, classes).

    Build one with :meth:`from_logits`, which applies the uniform mix; the stored ``logits`` are the
    log-probabilities after it, so every class keeps a probability of at least ``unimix / classes``.
    """

    logits: torch.Tensor

    @classmethod
    def from_logits(cls, raw: torch.Tensor, classes: int, unimix: float = 0.01) -> Categorical:
        """From a network's output (..., stoch_dim * classes), mixing in ``unimix`` of a uniform distribution.

        probs = (1 - unimix) * softmax(raw) + unimix / classes, per variable (DreamerV3). With
        ``unimix`` 0 this is a plain softmax.
        """
        raw = raw.unflatten(-1, (-1, classes))  # (..., stoch_dim, classes)
        if unimix == 0:
            return cls(raw.log_softmax(-1))
        probs = (1 - unimix) * raw.softmax(-1) + unimix / classes
        return cls(torch.log(probs))

    @classmethod
    def from_head(cls, raw: torch.Tensor, config: Any) -> Categorical:
        """From a network's output (..., ``head_size``) for a model of this ``config``."""
        return cls.from_logits(raw, config.classes, config.unimix)

    @staticmethod
    def head_size(config: Any) -> int:
        """A logit per class of every variable: stoch_dim * classes."""
        return config.stoch_dim * config.classes

    @staticmethod
    def size(config: Any) -> int:
        """Numbers in z: a one-hot vector of ``classes`` per variable."""
        return config.stoch_dim * config.classes

    @staticmethod
    def noise_size(config: Any) -> int:
        """One standard-normal number per variable (it picks the class)."""
        return config.stoch_dim

    @property
    def probs(self) -> torch.Tensor:
        """Class probabilities, (..., stoch_dim, classes)."""
        return self.logits.exp()

    @property
    def classes(self) -> int:
        return self.logits.shape[-1]

    def _straight_through(self, index: torch.Tensor) -> torch.Tensor:
        """One-hot of ``index`` (..., stoch_dim) in the forward pass, the gradient of ``probs`` in the backward pass."""
        probs = self.probs
        classes = torch.arange(self.classes, device=index.device)
        one_hot = (index.unsqueeze(-1) == classes).to(probs.dtype)  # (..., stoch_dim, classes)
        # probs - probs.detach() is exactly 0 in value, so z stays exactly one-hot; its gradient is
        # that of probs: the straight-through estimator (Bengio et al. 2013; DreamerV2).
        return (one_hot + (probs - probs.detach())).flatten(-2)  # (..., stoch_dim * classes)

    def sample(self, noise: torch.Tensor | None = None) -> torch.Tensor:
        """One class per variable, drawn from ``probs``: z is (..., stoch_dim * classes), exactly one-hot per
        variable, with straight-through gradients to the logits.

        noise: standard normal, (..., stoch_dim); drawn here when None. Each variable's number becomes a
        uniform u = Phi(noise) in (0, 1), and the class is the first whose cumulative probability
        exceeds u (inverse-CDF sampling).
        """
        if noise is None:
            noise = torch.randn(self.logits.shape[:-1], device=self.logits.device)
        uniform = 0.5 * (1 + torch.erf(noise / math.sqrt(2)))  # (..., stoch_dim): Phi(noise)
        cdf = self.probs.detach().cumsum(-1)  # (..., stoch_dim, classes)
        index = (cdf < uniform.unsqueeze(-1)).sum(-1).clamp(max=self.classes - 1)  # (..., stoch_dim)
        return self._straight_through(index)

    @property
    def mode(self) -> torch.Tensor:
        """The mean path's z: the one-hot of each variable's most likely class, (..., stoch_dim * classes)."""
        return self._straight_through(self.logits.argmax(-1))

    def kl(self, other: Categorical) -> torch.Tensor:
        """KL(self || other) summed over the variables, in nats: (...)."""
        return (self.probs * (self.logits - other.logits)).sum((-2, -1))

    def entropy(self) -> torch.Tensor:
        """Entropy summed over the variables, in nats: (...). Each variable's is at most log(classes)."""
        return -(self.probs * self.logits).sum((-2, -1))

    def detach(self) -> Categorical:
        """The same distribution with no gradient to its logits (stop-gradient)."""
        return Categorical(self.logits.detach())

    def map(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> Categorical:
        """Apply ``fn`` to the logits' leading dimensions, e.g. ``lambda x: x[:, K:]``."""
        return Categorical(fn(self.logits))


Latent = Gaussian | Categorical
"""Either kind of latent distribution."""

LatentKind = Literal["gaussian", "categorical"]
"""The names of the kinds, as ``RSSMConfig.latent`` takes them."""

KINDS: dict[str, type[Latent]] = {"gaussian": Gaussian, "categorical": Categorical}
assert tuple(KINDS) == typing.get_args(LatentKind)


def kind_of(config: Any) -> type[Latent]:
    """The distribution class of ``config.latent`` (e.g. an :class:`rssm.model.RSSMConfig`)."""
    return KINDS[config.latent]


def stack(steps: Sequence[Latent], dim: int = 1) -> Latent:
    """Stack per-step distributions of one kind, e.g. T of batch shape (B,) into one of (B, T)."""
    kind = type(steps[0])
    return kind(*(torch.stack(parts, dim) for parts in zip(*steps)))
