"""Static figures: frame strips, reconstructions, the open-loop report, loss curves, error vs horizon.

Every function returns a matplotlib Figure in the book's style (:mod:`rssm.style`) and leaves
showing or saving it to the caller, so the same figure serves the notebooks (shown inline) and the
CLI (saved as PNG by :func:`write_training_figures`). The truth / prediction / error view of an
open-loop rollout is computed once, by :func:`rollout_panels`, and drawn from there here, by the
players (:mod:`rssm.players`) and by the live explorer (:mod:`rssm.widgets`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure

from rssm.dataset import MovingDotConfig
from rssm.evaluate import VALIDATION, OpenLoopReport
from rssm.model import RSSM
from rssm.style import (
    COLORS,
    COLUMN_WIDTH,
    DPI,
    FRAMES_PER_ROW,
    LABELS,
    MARKER_COLOR,
    Frames,
    as_frames,
    draw_frame,
    figure_size,
)

CONTEXT_TEXT = "context:\nthe model\nsees this frame"  # what a prediction panel says during the context


# ----- the open-loop view: computed once ---------------------------------------------------------


@dataclass
class RolloutPanels:
    """One open-loop rollout as three aligned rows of T frames (H, W), and a label per frame.

    ``prediction`` and ``error`` (prediction - truth, in [-1, 1]) are NaN on the K context frames,
    where the model saw the truth and predicted nothing.
    """

    truth: np.ndarray  # (T, H, W) in [0, 1]
    prediction: np.ndarray  # (T, H, W) in [0, 1], NaN for t < K
    error: np.ndarray  # (T, H, W) in [-1, 1], NaN for t < K
    labels: list[str]  # "context" or "open loop", one per frame
    K: int

    def as_rows(self) -> dict[str, np.ndarray]:
        """The rows by title, in the order every view draws them."""
        return {"truth": self.truth, "prediction": self.prediction, "error (pred - truth)": self.error}


def rollout_panels(obs: Frames, pred: Frames, K: int) -> RolloutPanels:
    """Truth, prediction and error of one open-loop rollout, aligned frame by frame.

    obs: (T, 1, H, W) or (T, H, W), the whole true sequence; pred: (T-K, ...), frames K..T-1 predicted
    from the first K (one sequence of :meth:`rssm.model.RSSM.open_loop_rollout`). The prediction is
    clipped to [0, 1]; the error is not.
    """
    truth = as_frames(obs, "truth")
    T = truth.shape[0]
    if isinstance(K, bool) or not isinstance(K, int) or not 1 <= K < T:
        raise ValueError(f"K={K!r}: must be an int in [1, T-1] with T={T}")
    guess = as_frames(pred, "prediction")
    if guess.shape != (T - K, *truth.shape[1:]):
        raise ValueError(f"pred: expected {T - K} frames of {truth.shape[1:]} (T-K with T={T}, K={K}), got {guess.shape}")
    blank = np.full((K, *truth.shape[1:]), np.nan)
    return RolloutPanels(
        truth=truth,
        prediction=np.concatenate([blank, np.clip(guess, 0, 1)]),
        error=np.concatenate([blank, guess - truth[K:]]),
        labels=["context"] * K + ["open loop"] * (T - K),
        K=K,
    )


def plot_open_loop_report(
    obs: torch.Tensor, pred: torch.Tensor, K: int, sequence: int = 0, every: int = 1, max_columns: int = 16
) -> Figure:
    """The open-loop report of Dreamer: rows truth / prediction / error for one sequence.

    obs: (B, T, 1, H, W), the whole sequences; pred: (B, T-K, 1, H, W), frames K..T-1 predicted from
    the first K. Every ``every``-th frame is shown, at most ``max_columns``; more than
    ``FRAMES_PER_ROW`` columns wrap into a second block of three rows. Context columns show only the
    frames the model saw; prediction and error panels are framed in blue.
    """
    panels = rollout_panels(obs[sequence], pred[sequence], K)
    columns = list(range(0, len(panels.truth), every))[:max_columns]
    blocks = math.ceil(len(columns) / FRAMES_PER_ROW)
    width = math.ceil(len(columns) / blocks)
    size = figure_size(width, 3 * blocks, extra_height=0.4 + 0.25 * blocks)
    fig, axes = plt.subplots(3 * blocks, width, figsize=size, squeeze=False, layout="constrained")
    for ax in axes.flat:
        ax.axis("off")
    for i, t in enumerate(columns):
        block, c = divmod(i, width)
        top = 3 * block
        for r, (frames, signed) in enumerate(((panels.truth, False), (panels.prediction, False), (panels.error, True))):
            ax = axes[top + r, c]
            if np.isnan(frames[t]).all():
                continue
            ax.axis("on")
            draw_frame(ax, frames[t], signed=signed)
            if r:
                for spine in ax.spines.values():
                    spine.set(visible=True, edgecolor="C0", linewidth=1.5)
        axes[top, c].set_title(f"t={t}" + (" (ctx)" if t < K else ""), fontsize=9)
    for block in range(blocks):
        for r, name in enumerate(("truth", "prediction", "error")):
            ax = axes[3 * block + r, 0]
            ax.axis("on")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.grid(False)
            ax.set_ylabel(name, fontsize=9)
            if r and K > 0:
                for spine in ax.spines.values():
                    spine.set_visible(False)
    fig.suptitle(f"Open loop: {K} context frames, then the prior alone (error = prediction - truth)", fontsize=10)
    return fig


# ----- frames -----------------------------------------------------------------------------------


def plot_frames(
    frames: torch.Tensor,
    title: str | None = None,
    labels: Sequence[str] | None = None,
    size: float | None = None,
    row_labels: Sequence[str] | None = None,
) -> Figure:
    """A strip of frames (N, 1, H, W), or a grid (R, N, 1, H, W), with optional column and row labels.

    A strip of more than ``FRAMES_PER_ROW`` frames wraps into rows (each frame keeps its label);
    ``size`` caps each panel's side in inches (the column's width caps it too).
    """
    if frames.dim() == 4:
        n = frames.shape[0]
        rows = math.ceil(n / FRAMES_PER_ROW)
        cols = math.ceil(n / rows)
        cells = [(i // cols, i % cols, frames[i], labels[i] if labels is not None else None) for i in range(n)]
    else:
        rows, cols = frames.shape[:2]
        cells = [(r, c, frames[r, c], labels[c] if labels is not None and r == 0 else None)
                 for r in range(rows) for c in range(cols)]
    extra = (0.3 if title else 0) + (0.25 if labels is not None else 0)
    fig, axes = plt.subplots(rows, cols, figsize=figure_size(cols, rows, size, extra_height=extra + 0.1), squeeze=False,
                             layout="constrained")
    for ax in axes.flat:
        ax.axis("off")
    for r, c, frame, label in cells:
        axes[r, c].axis("on")
        draw_frame(axes[r, c], frame)
        if label is not None:
            axes[r, c].set_title(label, fontsize=9)
    for r, name in enumerate(row_labels or []):
        axes[r, 0].set_ylabel(name, fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def plot_reconstructions(obs: torch.Tensor, recon: torch.Tensor, num_sequences: int = 3, num_frames: int = 10) -> Figure:
    """Rows of truth and posterior reconstruction for a few sequences. obs, recon: (B, T, 1, H, W)."""
    n, t = min(num_sequences, obs.shape[0]), min(num_frames, obs.shape[1], FRAMES_PER_ROW)
    grid = torch.stack([row for s in range(n) for row in (obs[s, :t], recon[s, :t].clamp(0, 1))])  # (2n, t, 1, H, W)
    return plot_frames(grid, labels=[f"t={i}" for i in range(t)], row_labels=["truth", "recon"] * n,
                       title="Posterior reconstructions (the model sees every frame)")


# ----- curves -----------------------------------------------------------------------------------


def plot_loss_curves(history: dict[str, list[float]], smooth: int = 20) -> Figure:
    """Reconstruction, KL (nats per frame, smoothed over ``smooth`` steps) and the validation error.

    The reconstruction panel shows both curves of the history (:func:`rssm.train.new_history`): the
    one weighted by the dot weight, which the optimiser sees, and the unweighted one, the frame's own
    error (drawn where the history has it; chapter 4 reads the run off it).
    """

    def smoothed(values: list[float]) -> np.ndarray:
        values = np.asarray(values, dtype=float)
        if len(values) < smooth or smooth <= 1:
            return values
        return np.convolve(values, np.ones(smooth) / smooth, mode="valid")

    fig, axes = plt.subplots(1, 3, figsize=(COLUMN_WIDTH, 3.0), layout="constrained")
    steps = np.arange(1, len(history["loss"]) + 1)
    curves = [("recon", axes[0], "C0", "-", "reconstruction weighted by the dot weight (what the optimiser sees)"),
              ("recon_unweighted", axes[0], "C1", "-", "reconstruction unweighted (the frame's error)"),
              ("kl", axes[1], "C2", "-", None)]
    for key, ax, color, ls, label in curves:
        values = smoothed(history.get(key, []))
        if not np.isfinite(values).any():
            continue  # a history from before recon_unweighted was logged
        ax.plot(steps[len(steps) - len(values):], values, color=color, ls=ls, label=label)
    axes[0].set_title("reconstruction (nats)")
    axes[1].set_title("KL(q || p) (nats)")
    for ax in axes:
        ax.set_xlabel("step")
    axes[0].set_yscale("log")
    if history.get("val_pos_err_h10"):
        axes[2].plot(history["val_step"], history["val_pos_err_h10"], "o-", color="C3", ms=3)
    axes[2].set_title("error at horizon 10 (px)")
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncol=1)
    return fig


def plot_error_vs_horizon(report: OpenLoopReport, metric: str = "pos_err_visible", ax: plt.Axes | None = None) -> Figure:
    """One line per predictor: ``metric`` of ``report`` against the horizon."""
    if ax is None:
        fig, ax = plt.subplots(figsize=(COLUMN_WIDTH * 0.75, 3.2), layout="constrained")
    else:
        fig = ax.figure
    for name, values in getattr(report, metric).items():
        ax.plot(report.horizons, values, label=LABELS.get(name, name), color=COLORS.get(name),
                lw=2.5 if name == "model" else 1.5)
    ax.set_xlabel("horizon (frames after the context)")
    ax.set_ylabel({"pos_err_visible": "dot position error (px)", "mse_visible": "per-pixel MSE (visible)",
                   "mse_occluded": "per-pixel MSE (occluded)"}.get(metric, metric))
    ax.legend()
    return fig


# ----- files the CLI writes ---------------------------------------------------------------------


def save_figure(fig: Figure, path: Path) -> None:
    """Save ``fig`` as a PNG at ``path`` atomically (temp file + rename) and close it."""
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=DPI)
    plt.close(fig)
    tmp.replace(path)


@torch.no_grad()
def write_training_figures(model: RSSM, data_config: MovingDotConfig, K: int, output_dir: Path, tag: str | None) -> None:
    """Reconstructions and an open-loop report on 4 fixed held-out sequences (``tag`` None: the final report)."""
    was_training = model.training
    model.eval()
    batch = VALIDATION.replace(K=K, sequences=4).batch(data_config)
    device = next(model.parameters()).device
    obs, actions = batch["obs"].to(device), batch["actions"].to(device)
    recon = model.observe(obs, actions, sample=False).recon.cpu()
    pred = model.open_loop_rollout(obs[:, :K], actions[:, :K], actions[:, K:], K).cpu()
    obs = obs.cpu()
    if tag is None:
        save_figure(plot_open_loop_report(obs, pred, K, every=2), output_dir / "eval_rollout.png")
    else:
        save_figure(plot_reconstructions(obs, recon), output_dir / f"recon_epoch{tag}.png")
        save_figure(plot_open_loop_report(obs, pred, K), output_dir / f"rollout_epoch{tag}.png")
    model.train(was_training)


# ----- marks: true positions on frames, hidden frames on a time axis (chapters 6, 7) ------------


def mark_positions(fig: Figure, positions: Frames, color: str | None = None, size: float = 8) -> Figure:
    """Ring one position on each frame of a :func:`plot_frames` figure and return ``fig``.

    positions: (N, 2) in pixels (x = column, y = row), one per drawn frame in the figure's order
    (row by row), e.g. where the dot really is, also while an occluder hides it. ``color`` defaults
    to :data:`rssm.style.MARKER_COLOR`; ``size`` is the ring's diameter in points. The frames keep
    their limits. Raises ValueError when the number of positions differs from the number of frames.
    """
    if isinstance(positions, torch.Tensor):
        positions = positions.detach().cpu().numpy()
    positions = np.asarray(positions, dtype=float)
    axes = [ax for ax in fig.axes if ax.images]  # the panels that show a frame
    if positions.shape != (len(axes), 2):
        raise ValueError(f"positions: expected shape ({len(axes)}, 2), one per frame, got {positions.shape}")
    for ax, (x, y) in zip(axes, positions):
        limits = ax.get_xlim(), ax.get_ylim()
        ax.plot([x], [y], "o", ms=size, mfc="none", mec=color or MARKER_COLOR, mew=1.2)
        ax.set_xlim(limits[0])
        ax.set_ylim(limits[1])
    return fig


def shade_hidden(ax: plt.Axes, visible: torch.Tensor | np.ndarray, start: int = 0, color: str = "0.88") -> None:
    """Shade the frames where ``visible`` (T,) is False on a time axis whose frame i sits at x = start + i.

    Each hidden frame gets a band from start + i - 0.5 to start + i + 0.5, drawn behind the lines.
    """
    hidden = ~np.asarray(visible.cpu() if isinstance(visible, torch.Tensor) else visible, dtype=bool)
    for i in np.flatnonzero(hidden):
        ax.axvspan(start + i - 0.5, start + i + 0.5, color=color, lw=0, zorder=0)
