"""Losses and small helpers: seeding, the Gaussian KL, KL balancing with free bits, the frame loss.

Chapter 4 of the book (``book/04_training_kl_balancing``) derives these terms from the ELBO.
"""

from __future__ import annotations

import os
import random
from typing import Literal

import numpy as np
import torch


def set_seed(seed: int) -> None:
    """Seed Python, NumPy and PyTorch so that a run repeats exactly on the same machine."""
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed={seed!r}: must be an int")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)


def resolve_device(device: str) -> torch.device:
    """'auto' picks cuda, then mps, then cpu; a named device must exist."""
    choices = ("auto", "cpu", "cuda", "mps")
    if device not in choices:
        raise ValueError(f"device={device!r}: must be one of {', '.join(choices)}")
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda': no CUDA device is available here")
    if device == "mps" and not (getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()):
        raise ValueError("device='mps': no Apple MPS device is available here")
    return torch.device(device)


def gaussian_kl(q_mean: torch.Tensor, q_std: torch.Tensor, p_mean: torch.Tensor, p_std: torch.Tensor) -> torch.Tensor:
    """KL(q || p) between diagonal Gaussians, summed over the last (latent) dimension, in nats.

    All inputs (..., stoch_dim); returns (...). Summing over latents (not averaging) keeps the KL in
    the same units as a summed reconstruction loss, so beta means what it says.
    """
    var_ratio = (q_std / p_std) ** 2
    mean_term = ((q_mean - p_mean) / p_std) ** 2
    return 0.5 * (var_ratio + mean_term - 1 - torch.log(var_ratio)).sum(-1)


FreeBitsMode = Literal["step", "batch"]


def _apply_free_bits(kl: torch.Tensor, free_bits: float, mode: FreeBitsMode) -> torch.Tensor:
    """Clamp a (B, T) KL from below at ``free_bits`` nats and average it to a scalar.

    mode="step" clamps every (batch, time) step before averaging (DreamerV3); mode="batch" clamps
    the batch mean (DreamerV2's free_avg). Below the floor the gradient is zero: the model may use
    that many nats for free.
    """
    if mode == "step":
        return kl.clamp(min=free_bits).mean()
    return kl.mean().clamp(min=free_bits)


def kl_balance(
    post_mean: torch.Tensor,
    post_std: torch.Tensor,
    prior_mean: torch.Tensor,
    prior_std: torch.Tensor,
    balance: float = 0.8,
    free_bits: float = 1.0,
    free_bits_mode: FreeBitsMode = "step",
) -> tuple[torch.Tensor, torch.Tensor]:
    """KL balancing with free bits (DreamerV2): the prior learns faster than the posterior forgets.

    loss = balance * fb(KL(sg(q) || p)) + (1 - balance) * fb(KL(q || sg(p)))

    where sg is stop-gradient and fb clamps at ``free_bits`` nats (per step by default, see
    :func:`_apply_free_bits`). The first term trains only the prior, the second only the posterior,
    so with balance=0.8 the prior gets 0.8 of the KL gradient and the posterior 0.2. Inputs are
    (B, T, stoch_dim). Returns (loss, kl) with ``kl`` the raw KL(q || p) per step, (B, T), in nats.
    """
    if not 0.0 <= balance <= 1.0:
        raise ValueError(f"balance={balance!r}: must be in [0, 1]")
    if free_bits < 0:
        raise ValueError(f"free_bits={free_bits!r}: must be non-negative")
    if free_bits_mode not in ("step", "batch"):
        raise ValueError(f"free_bits_mode={free_bits_mode!r}: must be 'step' or 'batch'")
    kl_prior = gaussian_kl(post_mean.detach(), post_std.detach(), prior_mean, prior_std)  # trains p
    kl_post = gaussian_kl(post_mean, post_std, prior_mean.detach(), prior_std.detach())  # trains q
    loss = balance * _apply_free_bits(kl_prior, free_bits, free_bits_mode) + (1 - balance) * _apply_free_bits(
        kl_post, free_bits, free_bits_mode
    )
    return loss, kl_prior.detach()


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
    beta by 1024: the KL wins and the posterior collapses (chapter 7).

    ``dot_weight`` w > 0 multiplies each pixel's error by (1 + w * foreground), where foreground is the
    pixel's distance from the sequence's static background (:func:`foreground`): the moving dot's
    pixels count up to 1 + w times more, static background and occluders count once. A small dot is
    ~1% of a frame, so without it the blank frame is a strong local optimum (chapter 4 measures this).
    With T = 1 every pixel is its own median, so the weight has no effect (chapter 2 shows this).
    """
    if dot_weight < 0:
        raise ValueError(f"dot_weight={dot_weight!r}: must be non-negative")
    error = (recon - target) ** 2
    if dot_weight:
        error = error * (1 + dot_weight * foreground(target))
    return error.flatten(2).sum(-1).mean()
