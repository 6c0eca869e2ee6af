"""Small helpers: seeding and device choice.

The losses used to live here and are still importable from here (``kl_balance``, ``gaussian_kl``,
``reconstruction_loss``, ``foreground``); their home is :mod:`rssm.losses`.
"""

from __future__ import annotations

import os
import random

import numpy as np
import torch

from rssm.losses import foreground, gaussian_kl, kl_balance, reconstruction_loss

__all__ = ["foreground", "gaussian_kl", "kl_balance", "reconstruction_loss", "resolve_device", "set_seed"]


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
