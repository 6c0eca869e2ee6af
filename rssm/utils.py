"""Small helpers: seeding and device choice.

The losses used to live here and are still importable from here (``kl_balance``, ``gaussian_kl``,
``reconstruction_loss``, ``foreground``); their home is :mod:`rssm.losses`.
"""

from __future__ import annotations

import random
import typing
from typing import Literal

import numpy as np
import torch

from rssm.config import check_value
from rssm.losses import foreground, gaussian_kl, kl_balance, reconstruction_loss

__all__ = ["DEVICES", "DeviceName", "foreground", "gaussian_kl", "kl_balance", "reconstruction_loss", "resolve_device",
           "set_seed"]

DeviceName = Literal["auto", "cpu", "cuda", "mps"]
DEVICES: tuple[str, ...] = typing.get_args(DeviceName)  # what resolve_device (and rssm-train --device) accepts


def set_seed(seed: int) -> None:
    """Seed Python's ``random``, NumPy and PyTorch so that a run repeats exactly on the same machine.

    It does not set ``PYTHONHASHSEED``: that only acts when a Python process starts (the order of a
    ``set`` of strings), so setting it here would change nothing in this process. Nothing in the
    package depends on it.
    """
    check_value("set_seed", "seed", seed, int)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def resolve_device(device: str) -> torch.device:
    """'auto' picks cuda, then mps, then cpu; a named device must exist."""
    check_value("resolve_device", "device", device, DeviceName)
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
