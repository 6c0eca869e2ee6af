"""Saving and loading trained models: one ``model.pt`` file holds everything needed to use or resume.

A checkpoint is a plain dict of tensors, numbers and strings, so it loads with
``torch.load(weights_only=True)`` (no pickled code runs). It is written atomically: to a temporary
file in the same folder, then renamed, so a crash never leaves a half-written ``model.pt``; and it is
never written with weights that are not finite.
"""

from __future__ import annotations

import os
import platform
import tempfile
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

from rssm.dataset import MovingDotConfig
from rssm.model import RSSM, RSSMConfig

FORMAT_VERSION = 1
PRETRAINED_DIR = Path(__file__).parent / "pretrained"
PRETRAINED = {
    "moving_dot_occluded": PRETRAINED_DIR / "moving_dot_occluded.pt",  # the book's model (scripts/train_pretrained.sh)
    # chapter 10's pair: the same recipe and budget with each latent (scripts/train_latent_pair.sh)
    "gaussian_pair": PRETRAINED_DIR / "gaussian_pair.pt",
    "categorical_pair": PRETRAINED_DIR / "categorical_pair.pt",
}


@dataclass
class Checkpoint:
    """A loaded checkpoint. ``model`` is in eval mode on the requested device."""

    path: Path
    model: RSSM
    data_config: MovingDotConfig
    train_config: dict[str, Any]
    history: dict[str, list[float]]
    optimizer_state: dict[str, Any] | None = None
    versions: dict[str, str] = field(default_factory=dict)
    step: int = 0  # gradient steps taken (skipped ones included): where a resumed run goes on
    epoch: int = 0  # epochs ended
    seconds: float = 0.0  # training time so far


def library_versions() -> dict[str, str]:
    """The versions a checkpoint was written with, for the record (``rssm``: the installed ``rssm-book``)."""
    import numpy

    try:
        rssm_version = metadata.version("rssm-book")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        rssm_version = "unknown"
    return {"rssm": rssm_version, "torch": str(torch.__version__), "numpy": str(numpy.__version__), "python": platform.python_version()}


def counters_from_history(history: dict[str, list[float]]) -> dict[str, float]:
    """A run's step, epoch and seconds as its history shows them (for checkpoints that predate the counters)."""
    return {"step": len(history.get("loss", [])), "epoch": len(history.get("epoch", [])),
            "seconds": history["time_s"][-1] if history.get("time_s") else 0.0}


def save_checkpoint(
    path: str | os.PathLike,
    model: RSSM,
    data_config: MovingDotConfig,
    train_config: dict[str, Any],
    history: dict[str, list[float]],
    optimizer: torch.optim.Optimizer | None = None,
    counters: dict[str, float] | None = None,
) -> Path:
    """Write everything to ``path`` atomically (temp file + rename), readable like any new file. Returns the path.

    ``counters`` holds the run's ``step``, ``epoch`` and ``seconds`` (see :class:`rssm.train.TrainState`);
    without it they are read off the history. Raises ValueError, and writes nothing, if a weight is
    not finite.
    """
    path = Path(path)
    bad = [name for name, value in model.state_dict().items() if value.is_floating_point() and not torch.isfinite(value).all()]
    if bad:
        raise ValueError(f"{path}: not saved, the model has non-finite weights in {', '.join(bad[:3])}")
    path.parent.mkdir(parents=True, exist_ok=True)
    counters = counters or counters_from_history(history)
    payload = {
        "format_version": FORMAT_VERSION,
        "model_config": model.config.to_dict(),
        "data_config": data_config.to_dict(),
        "train_config": dict(train_config),
        "model_state": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "optimizer_state": optimizer.state_dict() if optimizer is not None else None,
        "history": {k: [float(x) for x in v] for k, v in history.items()},
        "versions": library_versions(),
        "step": int(counters["step"]),
        "epoch": int(counters["epoch"]),
        "seconds": float(counters["seconds"]),
    }
    return save_atomically(payload, path)


def save_atomically(payload: dict[str, Any], path: str | os.PathLike) -> Path:
    """``torch.save`` to a temp file beside ``path``, then rename: a reader never sees half a file, and a
    failed save leaves the previous file as it was. The file gets the mode a new file gets (0644)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)  # mkstemp's file is 0600
        with os.fdopen(fd, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def first_line(error: BaseException) -> str:
    """An error's first line ("" if it has no text): torch's own texts run to pages, a message is one line."""
    text = str(error).strip()
    return text.splitlines()[0] if text else ""


def load_checkpoint(path: str | os.PathLike, device: str | torch.device = "cpu") -> Checkpoint:
    """Load a ``model.pt``. Raises FileNotFoundError if missing, ValueError if corrupt or incompatible."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        payload = torch.load(path, map_location=device, weights_only=True)
    except Exception as error:  # noqa: BLE001  torch raises several types for truncated or foreign files
        raise ValueError(f"{path}: not a readable rssm checkpoint ({type(error).__name__}: {first_line(error)})") from None
    if not isinstance(payload, dict) or "model_state" not in payload:
        raise ValueError(f"{path}: not an rssm checkpoint (no model_state)")
    if payload.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{path}: checkpoint format {payload.get('format_version')!r}, this rssm reads {FORMAT_VERSION}")
    try:
        model_config = RSSMConfig.from_dict(payload["model_config"])
        data_config = MovingDotConfig.from_dict(payload["data_config"])
        model = RSSM(model_config)
        model.load_state_dict(payload["model_state"])
    except (KeyError, TypeError, ValueError, RuntimeError) as error:
        raise ValueError(f"{path}: incompatible checkpoint ({type(error).__name__}: {error})") from None
    model.to(device).eval()
    history = payload.get("history", {})
    fallback = counters_from_history(history)  # checkpoints written before the counters were saved
    return Checkpoint(
        path=path,
        model=model,
        data_config=data_config,
        train_config=payload.get("train_config", {}),
        history=history,
        optimizer_state=payload.get("optimizer_state"),
        versions=payload.get("versions", {}),
        step=int(payload.get("step", fallback["step"])),
        epoch=int(payload.get("epoch", fallback["epoch"])),
        seconds=float(payload.get("seconds", fallback["seconds"])),
    )


def load_pretrained(name: str = "moving_dot_occluded", device: str | torch.device = "cpu") -> Checkpoint:
    """Load a checkpoint shipped inside the package (see ``scripts/train_pretrained.sh``)."""
    if name not in PRETRAINED:
        raise ValueError(f"unknown pretrained model {name!r}; available: {', '.join(PRETRAINED)}")
    return load_checkpoint(PRETRAINED[name], device)


def checkpoint_path(name_or_path: str | os.PathLike) -> Path:
    """A shipped model's name (:data:`PRETRAINED`) or the path of a ``model.pt`` -> the file to load.

    Raises ValueError, naming the shipped models, when it is neither.
    """
    if str(name_or_path) in PRETRAINED:
        return PRETRAINED[str(name_or_path)]
    path = Path(name_or_path)
    if path.is_file():
        return path
    raise ValueError(
        f"checkpoint {str(name_or_path)!r}: no such file, and not a shipped model ({', '.join(PRETRAINED)})"
    )
