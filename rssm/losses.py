"""The training objective: reconstruction + beta * balanced KL with free bits, and its schedules.

Chapter 4 of the book (``book/04_training_kl_balancing``) derives these terms from the ELBO; chapter 8
varies them. Everything that decides what a training step minimises lives here:

- :func:`reconstruction_loss`: squared error summed over each frame's pixels, with a foreground
  weight on the moving dot;
- :func:`balanced_kl`: KL balancing with free bits (DreamerV2/V3), for either latent
  (:mod:`rssm.distributions`); :func:`kl_balance` is the same for Gaussian parameters;
- :func:`compute_loss`: both terms (and the optional overshooting term) for one batch;
- :func:`dot_weight_at`: the foreground weight's schedule over training steps;
- :data:`Objective` and :func:`training_objective`: what ``rssm.train.train`` minimises at a step.
  A variant of the objective is a function with the same signature passed to ``train(objective=...)``.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Literal, TypeVar

import torch

from rssm.config import Bounds, between, check_fields, field_error, non_negative, positive
from rssm.dataset import MovingDotConfig
from rssm.distributions import Gaussian, Latent, gaussian_kl
from rssm.model import RSSM, RSSMState

__all__ = [  # gaussian_kl lives in rssm.distributions and is still importable from here
    "DOT_WEIGHT_FINAL", "FREE_BITS_MODES", "FreeBitsMode", "LossConfig", "Objective", "OvershootMode", "ReconstructionLoss",
    "balanced_kl", "compute_loss", "dot_weight_at", "foreground", "gaussian_kl", "kl_balance", "reconstruction_loss",
    "training_objective",
]

FreeBitsMode = Literal["step", "batch"]
FREE_BITS_MODES: tuple[str, ...] = typing.get_args(FreeBitsMode)
DOT_WEIGHT_FINAL = {True: 5.0, False: 1.0}  # the foreground weight after its decay, by world.use_occlusion
OvershootMode = Literal["latent", "pixels"]
_Config = TypeVar("_Config", bound="LossConfig")  # LossConfig or a config that extends it (TrainConfig)


@dataclass(frozen=True)
class LossConfig:
    """What a training step minimises. ``rssm.train.TrainConfig`` extends it with the optimiser's settings."""

    beta: float = 1.0  # weight of the KL term
    kl_balance: float = 0.8  # share of the KL gradient that trains the prior (DreamerV2)
    free_bits: float = 1.0  # nats of KL per step that are free
    free_bits_mode: FreeBitsMode = "step"  # "step" (DreamerV3) or "batch" (DreamerV2's free_avg)
    dot_weight: float = 30.0  # extra weight on the moving (dot) pixels: escapes the blank-frame plateau
    dot_weight_final: float | None = None  # the foreground weight after its decay; None: 5 with occluders, 1 without
    dot_weight_decay_start: int = 200  # step at which the foreground weight starts to decay (the dot is drawn by then)
    dot_weight_decay_end: int = 800  # step at which it reaches dot_weight_final
    overshoot: float = 0.0  # weight of the open-loop (overshooting) term from frame K of each window (0: off)
    overshoot_mode: OvershootMode = "latent"  # score it against the posteriors ("latent", PlaNet) or the frames
    K: int = 8  # context frames: where overshooting starts, and the open-loop checks and figures

    bounds: ClassVar[dict[str, Bounds]] = {  # each field's type is checked too (rssm.config)
        "beta": non_negative, "kl_balance": between(0, 1), "free_bits": non_negative, "dot_weight": non_negative,
        "dot_weight_final": non_negative, "dot_weight_decay_start": non_negative, "dot_weight_decay_end": non_negative,
        "overshoot": non_negative, "K": positive,
    }

    def __post_init__(self) -> None:
        check_fields(self)
        if self.dot_weight_decay_end < self.dot_weight_decay_start:
            raise field_error(self, "dot_weight_decay_end",
                              f"must be at least dot_weight_decay_start={self.dot_weight_decay_start}")

    def for_world(self: _Config, world: MovingDotConfig) -> _Config:  # noqa: PYI019  (typing.Self is Python 3.11+)
        """This config with the settings left to the world (None) filled in for ``world``.

        ``dot_weight_final`` becomes :data:`DOT_WEIGHT_FINAL` ``[world.use_occlusion]``: 5 with
        occluders, 1 without. Once the foreground weight has decayed to 1, the dot's few pixels count
        for little next to the gray occluders, and with occluders on the model learned the dot's
        dynamics more slowly (``book/ablations.md``). ``rssm.train.train`` calls this.
        """
        if self.dot_weight_final is not None:
            return self
        return dataclasses.replace(self, dot_weight_final=DOT_WEIGHT_FINAL[world.use_occlusion])


# ----- the two terms -------------------------------------------------------------------------------


def _apply_free_bits(kl: torch.Tensor, free_bits: float, mode: FreeBitsMode) -> torch.Tensor:
    """Clamp a (B, T) KL from below at ``free_bits`` nats and average it to a scalar.

    mode="step" clamps every (batch, time) step before averaging (DreamerV3); mode="batch" clamps
    the batch mean (DreamerV2's free_avg). Below the floor the gradient is zero: the model may use
    that many nats for free.
    """
    if mode == "step":
        return kl.clamp(min=free_bits).mean()
    return kl.mean().clamp(min=free_bits)


def balanced_kl(
    posterior: Latent,
    prior: Latent,
    balance: float = 0.8,
    free_bits: float = 1.0,
    free_bits_mode: FreeBitsMode = "step",
) -> tuple[torch.Tensor, torch.Tensor]:
    """KL balancing with free bits (DreamerV2): the prior learns faster than the posterior forgets.

    loss = balance * fb(KL(sg(q) || p)) + (1 - balance) * fb(KL(q || sg(p)))

    where sg is stop-gradient and fb clamps at ``free_bits`` nats (per step by default, see
    :func:`_apply_free_bits`). The first term trains only the prior, the second only the posterior,
    so with balance=0.8 the prior gets 0.8 of the KL gradient and the posterior 0.2. ``posterior``
    and ``prior`` are distributions of one kind (:mod:`rssm.distributions`, Gaussian or categorical)
    with batch shape (B, T); the KL is summed over the whole latent. Returns (loss, kl) with ``kl``
    the raw KL(q || p) per step, (B, T), in nats.
    """
    if not 0.0 <= balance <= 1.0:
        raise ValueError(f"balance={balance!r}: must be in [0, 1]")
    if free_bits < 0:
        raise ValueError(f"free_bits={free_bits!r}: must be non-negative")
    if free_bits_mode not in FREE_BITS_MODES:
        raise ValueError(f"free_bits_mode={free_bits_mode!r}: must be one of {', '.join(map(repr, FREE_BITS_MODES))}")
    if type(posterior) is not type(prior):
        raise ValueError(f"posterior and prior must be of one kind, got {type(posterior).__name__} "
                         f"and {type(prior).__name__}")
    kl_prior = posterior.detach().kl(prior)  # trains p
    kl_post = posterior.kl(prior.detach())  # trains q
    loss = balance * _apply_free_bits(kl_prior, free_bits, free_bits_mode) + (1 - balance) * _apply_free_bits(
        kl_post, free_bits, free_bits_mode
    )
    return loss, kl_prior.detach()


def kl_balance(
    post_mean: torch.Tensor,
    post_std: torch.Tensor,
    prior_mean: torch.Tensor,
    prior_std: torch.Tensor,
    balance: float = 0.8,
    free_bits: float = 1.0,
    free_bits_mode: FreeBitsMode = "step",
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`balanced_kl` for diagonal Gaussians given by their parameters, each (B, T, stoch_dim).

    Chapter 4 builds this one by hand. Returns (loss, kl) with ``kl`` the raw KL(q || p) per step,
    (B, T), in nats.
    """
    return balanced_kl(Gaussian(post_mean, post_std), Gaussian(prior_mean, prior_std), balance, free_bits, free_bits_mode)


def foreground(target: torch.Tensor) -> torch.Tensor:
    """How much each pixel differs from the sequence's static background, in [0, 1].

    target: (B, T, C, H, W). The background is the per-pixel median over time: the dot moves, the
    occluders do not, so the median frame shows the occluders without the dot. Returns (B, T, C, H, W).
    """
    background = target.median(dim=1, keepdim=True).values
    return (target - background).abs()


def reconstruction_loss(recon: torch.Tensor, target: torch.Tensor, dot_weight: float = 0.0) -> torch.Tensor:
    """Squared error summed over each frame's pixels, averaged over batch and time.

    recon, target: (B, T, C, H, W). Summed, not averaged, over pixels: this is the negative
    log-likelihood of a Gaussian with variance 1/2 (up to a constant), in nats per frame, the same
    units as the KL. A per-pixel mean would divide the reconstruction by H*W = 1024 and so multiply
    beta by 1024: the KL wins and the posterior collapses (chapter 8).

    ``dot_weight`` w > 0 multiplies each pixel's error by (1 + w * foreground), where foreground is the
    pixel's distance from the sequence's static background (:func:`foreground`): the moving dot's
    pixels count up to 1 + w times more, static background and occluders count once. A small dot is
    ~1% of a frame, so without it the blank frame is a strong local optimum (chapter 4 measures this).
    With T = 1 every pixel is its own median, so the weight has no effect (the book's appendix on the
    blank-frame plateau shows this).
    """
    if dot_weight < 0:
        raise ValueError(f"dot_weight={dot_weight!r}: must be non-negative")
    error = (recon - target) ** 2
    if dot_weight:
        error = error * (1 + dot_weight * foreground(target))
    return error.flatten(2).sum(-1).mean()


ReconstructionLoss = Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor]


# ----- the objective of one batch --------------------------------------------------------------------


def compute_loss(
    model: RSSM,
    obs: torch.Tensor,
    actions: torch.Tensor,
    config: LossConfig,
    dot_weight: float | None = None,
    reconstruction: ReconstructionLoss = reconstruction_loss,
) -> tuple[torch.Tensor, dict[str, float]]:
    """The training loss (nats per frame) for one batch, and its parts for logging.

    The parts are ``loss``, ``recon`` (the frame term the optimiser sees, dot weight included),
    ``recon_unweighted`` (the plain summed squared error, every pixel counted once: the frame's own
    error, which a decaying dot weight does not move; logged only, it gets no gradient), ``kl``
    (KL(q || p) in nats per frame, before balancing and free bits) and, with overshooting, ``overshoot``.

    obs: (B, L, C, H, W), actions: (B, L, A). ``dot_weight`` overrides ``config.dot_weight`` (the
    training loop passes the scheduled value); ``reconstruction`` replaces the frame term (chapter 8
    swaps in a per-pixel mean to show the collapse it causes).

    With ``config.overshoot`` > 0 an overshooting term trains open-loop prediction directly. From the
    filtered state after frame K-1 of each window, the prior's *mean* is rolled forward with the
    window's actions, exactly as :meth:`RSSM.open_loop_rollout` does, for frames K..L-1. The one-step
    KL only asks the prior to be right one frame ahead, with the posterior correcting it at every
    frame; this term charges the prior for errors that compound over many frames.

    - ``overshoot_mode="latent"`` (PlaNet's latent overshooting, from one start): KL(sg(q_t) || p_t)
      between each frame's posterior and the open-loop prior for that frame, in nats per frame.
      The posteriors are stop-gradient targets and the decoder gets no gradient; the dynamics
      (GRU and prior) learn from it, and so does the filter through the start state.
    - ``overshoot_mode="pixels"`` (observation overshooting): the imagined frames are decoded and
      scored against the true ones with the (weighted) reconstruction loss. Early in training the
      best guess under an uncertain future is a blurred dot, so this one pulls towards blur.

    Windows no longer than K frames have no open-loop part and skip the term.
    """
    weight = config.dot_weight if dot_weight is None else dot_weight
    out = model(obs, actions)
    recon = reconstruction(out.recon, obs, weight)
    kl_loss, kl = balanced_kl(out.posterior, out.prior, config.kl_balance, config.free_bits, config.free_bits_mode)
    loss = recon + config.beta * kl_loss
    with torch.no_grad():  # the frame's own error, every pixel counted once: what the dot weight reweights
        frame_error = reconstruction_loss(out.recon, obs)
    parts = {"recon": recon.item(), "recon_unweighted": frame_error.item(), "kl": kl.mean().item()}
    K = config.K
    if config.overshoot > 0 and obs.shape[1] > K:
        start = RSSMState(out.h[:, K - 1], out.z[:, K - 1])  # filtered state after frame K-1
        latent = config.overshoot_mode == "latent"
        dream = model.imagine(start, actions[:, K - 1 : -1], decode=not latent)  # actions[:, K-1+i] drives frame K+i
        if latent:
            targets = out.posterior.map(lambda x: x[:, K:]).detach()  # q_t for frames K..L-1
            overshoot = targets.kl(dream.prior).mean()  # (B, L-K) nats -> mean
        else:
            overshoot = reconstruction(dream.recon, obs[:, K:], weight)
        loss = loss + config.overshoot * overshoot
        parts["overshoot"] = overshoot.item()
    parts["loss"] = loss.item()
    return loss, parts


# ----- schedules and the objective of a training step ------------------------------------------------


def dot_weight_at(step: int, config: LossConfig) -> float:
    """The foreground weight at a global step: ``dot_weight``, then a geometric decay to ``dot_weight_final``.

    The weight is a crutch for the start of training, when a blank frame is the easiest answer. Once
    the model draws the dot it distorts the likelihood: with w = 30 the dot's pixels count ~31 times,
    which makes the KL term ~31 times cheaper than beta says and leaves the prior slack (chapter 4).
    """
    if config.dot_weight_final is None:
        raise ValueError("dot_weight_final=None depends on the world: use config.for_world(world) first")
    start, end, w0, w1 = config.dot_weight_decay_start, config.dot_weight_decay_end, config.dot_weight, config.dot_weight_final
    if step <= start or w0 == w1:
        return w0
    if step >= end:
        return w1
    fraction = (step - start) / (end - start)
    if w0 > 0 and w1 > 0:
        return w0 * (w1 / w0) ** fraction
    return w0 + (w1 - w0) * fraction


Objective = Callable[[RSSM, torch.Tensor, torch.Tensor, LossConfig, int], tuple[torch.Tensor, dict[str, float]]]
"""What ``train()`` minimises: ``objective(model, obs, actions, config, step) -> (loss, parts)``.

``step`` is the global training step (for schedules); ``parts`` must hold float ``"loss"``,
``"recon"`` and ``"kl"`` for the history, and may hold ``"recon_unweighted"`` (:func:`compute_loss`
does; the history records NaN where a variant does not). Pass a variant with ``train(objective=...)``.
"""


def training_objective(
    model: RSSM, obs: torch.Tensor, actions: torch.Tensor, config: LossConfig, step: int
) -> tuple[torch.Tensor, dict[str, float]]:
    """The book's objective at a training step: :func:`compute_loss` with the scheduled dot weight."""
    return compute_loss(model, obs, actions, config, dot_weight=dot_weight_at(step, config))
