"""Static figures: frame strips, reconstructions, the open-loop report, loss curves, error vs horizon.

Every function returns a matplotlib Figure and leaves showing or saving it to the caller, so the
same figure serves the notebooks (shown inline) and the CLI (saved as PNG).
"""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure

from rssm.evaluate import OpenLoopReport

FRAME_CMAP = "magma"
ERROR_CMAP = "RdBu_r"
COLORS = {"model": "C0", "blank": "0.6", "copy_last": "C1", "constant_velocity": "C2"}
LABELS = {"model": "RSSM (prior, open loop)", "blank": "blank frame", "copy_last": "copy last frame",
          "constant_velocity": "constant velocity"}


def _frame(ax: plt.Axes, image: torch.Tensor | np.ndarray, cmap: str = FRAME_CMAP, vmin: float = 0.0, vmax: float = 1.0) -> None:
    """Draw one (1, H, W) or (H, W) frame without ticks."""
    image = np.asarray(image.detach().cpu() if isinstance(image, torch.Tensor) else image)
    ax.imshow(image.reshape(image.shape[-2:]), cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


def plot_frames(frames: torch.Tensor, title: str | None = None, labels: Sequence[str] | None = None, size: float = 1.2) -> Figure:
    """A strip of frames: (N, 1, H, W), or a grid from (R, N, 1, H, W)."""
    grid = frames if frames.dim() == 5 else frames.unsqueeze(0)
    rows, cols = grid.shape[:2]
    fig, axes = plt.subplots(rows, cols, figsize=(size * cols, size * rows + (0.3 if title else 0)), squeeze=False)
    for r in range(rows):
        for c in range(cols):
            _frame(axes[r, c], grid[r, c])
            if labels is not None and r == 0:
                axes[r, c].set_title(labels[c], fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_reconstructions(obs: torch.Tensor, recon: torch.Tensor, num_sequences: int = 3, num_frames: int = 10) -> Figure:
    """Rows of truth and posterior reconstruction for a few sequences. obs, recon: (B, T, 1, H, W)."""
    n, t = min(num_sequences, obs.shape[0]), min(num_frames, obs.shape[1])
    fig, axes = plt.subplots(2 * n, t, figsize=(1.1 * t, 2.3 * n), squeeze=False)
    for s in range(n):
        for i in range(t):
            _frame(axes[2 * s, i], obs[s, i])
            _frame(axes[2 * s + 1, i], recon[s, i].clamp(0, 1))
            if s == 0:
                axes[0, i].set_title(f"t={i}", fontsize=8)
        axes[2 * s, 0].set_ylabel("truth", fontsize=8)
        axes[2 * s + 1, 0].set_ylabel("recon", fontsize=8)
    fig.suptitle("Posterior reconstructions (the model sees every frame)", fontsize=10)
    fig.tight_layout()
    return fig


def plot_open_loop_report(
    obs: torch.Tensor, pred: torch.Tensor, K: int, sequence: int = 0, every: int = 1, max_columns: int = 16
) -> Figure:
    """The open-loop report of Dreamer: rows truth / prediction / error for one sequence.

    obs: (B, T, 1, H, W), the whole sequences; pred: (B, T-K, 1, H, W), frames K..T-1 predicted from
    the first K. The context columns show the frames the model saw; prediction columns are framed.
    """
    T = obs.shape[1]
    columns = list(range(0, T, every))[:max_columns]
    fig, axes = plt.subplots(3, len(columns), figsize=(1.05 * len(columns), 3.6), squeeze=False)
    for c, t in enumerate(columns):
        truth = obs[sequence, t]
        _frame(axes[0, c], truth)
        axes[0, c].set_title(f"t={t}" + (" (ctx)" if t < K else ""), fontsize=7)
        if t < K:
            axes[1, c].axis("off")
            axes[2, c].axis("off")
            continue
        guess = pred[sequence, t - K]
        _frame(axes[1, c], guess.clamp(0, 1))
        _frame(axes[2, c], guess - truth, cmap=ERROR_CMAP, vmin=-1, vmax=1)
        for r in (1, 2):
            for spine in axes[r, c].spines.values():
                spine.set_edgecolor("C0")
                spine.set_linewidth(1.5)
    for r, name in enumerate(("truth", "prediction", "error")):
        axes[r, 0].set_ylabel(name, fontsize=8)
        axes[r, 0].axis("on")
        axes[r, 0].set_xticks([])
        axes[r, 0].set_yticks([])
        if r and K > 0:
            for spine in axes[r, 0].spines.values():
                spine.set_visible(False)
    fig.suptitle(f"Open loop: {K} context frames, then the prior alone (error = prediction - truth)", fontsize=9)
    fig.tight_layout()
    return fig


def plot_loss_curves(history: dict[str, list[float]], smooth: int = 20) -> Figure:
    """Training loss, reconstruction, KL (nats per frame) and the validation error at horizon 10."""
    def smoothed(values: list[float]) -> np.ndarray:
        values = np.asarray(values, dtype=float)
        if len(values) < smooth or smooth <= 1:
            return values
        kernel = np.ones(smooth) / smooth
        return np.convolve(values, kernel, mode="valid")

    fig, axes = plt.subplots(1, 3, figsize=(12, 3.2))
    steps = np.arange(1, len(history["loss"]) + 1)
    for key, ax, title in (("recon", axes[0], "reconstruction (nats/frame)"), ("kl", axes[1], "KL(q || p) (nats/frame)")):
        values = smoothed(history[key])
        ax.plot(steps[len(steps) - len(values):], values, color="C0")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    axes[0].set_yscale("log")
    if history.get("val_pos_err_h10"):
        axes[2].plot(history["val_step"], history["val_pos_err_h10"], "o-", color="C3")
    axes[2].set_title("open-loop dot error at horizon 10 (px)", fontsize=10)
    axes[2].set_xlabel("step")
    axes[2].grid(alpha=0.3)
    fig.tight_layout()
    return fig


def plot_error_vs_horizon(report: OpenLoopReport, metric: str = "pos_err_visible", ax: plt.Axes | None = None) -> Figure:
    """One line per predictor: ``metric`` of ``report`` against the horizon."""
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 3.6))
    else:
        fig = ax.figure
    for name, values in getattr(report, metric).items():
        ax.plot(report.horizons, values, label=LABELS.get(name, name), color=COLORS.get(name),
                lw=2.5 if name == "model" else 1.5)
    ax.set_xlabel("horizon (frames after the context)")
    ax.set_ylabel({"pos_err_visible": "dot position error (px)", "mse_visible": "per-pixel MSE (visible)",
                   "mse_occluded": "per-pixel MSE (occluded)"}.get(metric, metric))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
