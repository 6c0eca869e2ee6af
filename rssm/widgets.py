"""Live explorers for Jupyter and Colab: sliders that redraw a figure (they need a running kernel).

On the static website these show nothing useful, so every chapter also shows the same view as a
kernel-free player (:mod:`rssm.players`). ipywidgets is imported inside the functions, so the rest of
the package works without it.

Each explorer returns an ``ipywidgets.VBox``: controls above the ``Output`` of
``ipywidgets.interactive_output``, which redraws when a control changes; a notebook cell that ends
with it displays it. The drawing functions (:func:`draw_moving_dot`, :func:`draw_rollout`) are
plain matplotlib and can be called on their own.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure

from rssm.dataset import MovingDotConfig, generate_moving_dot_sequences
from rssm.figures import CONTEXT_TEXT, rollout_panels
from rssm.style import FRAME_CMAP, MARKER_COLOR, OUTLINE_COLOR, draw_frame, mask_edges


def _ipywidgets() -> Any:
    try:
        import ipywidgets
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError(
            "The live explorers need ipywidgets: run `pip install ipywidgets` (or `pip install "
            "'rssm-book[notebooks]'`) and restart the kernel. On the static site, use the players in "
            "rssm.players instead."
        ) from error
    return ipywidgets


def _show(fig: Figure, text: str) -> None:
    """Display ``fig`` and ``text`` (inside the explorer's Output) and close the figure."""
    from IPython.display import display

    display(fig)
    plt.close(fig)
    print(text)


# ----- chapter 1: the moving-dot world -----------------------------------------------------------


def draw_moving_dot(data: dict[str, torch.Tensor], config: MovingDotConfig, sequence: int, t: int) -> tuple[Figure, str]:
    """Frame t of one sequence with the path so far, and a text with the state and the actions.

    data: a batch of :func:`rssm.dataset.generate_moving_dot_sequences`. The figure shows the frame,
    the occluders (outlined), the dot's path over frames 0..t (white; red crosses where it was hidden)
    and a ring on the true position. The text names frame t's state, the action that brought the dot
    here (``actions[t-1]``) and the action that moves it on to frame t+1 (``actions[t]``).
    """
    T = data["obs"].shape[1]
    states = data["states"][sequence]  # (T, 4)
    actions = data["actions"][sequence]  # (T, 2)
    visible = data["visible"][sequence]  # (T,)
    path = states[: t + 1, :2].numpy()

    fig, ax = plt.subplots(figsize=(3.6, 3.6), layout="constrained")
    ax.imshow(data["obs"][sequence, t, 0].numpy(), cmap=FRAME_CMAP, vmin=0, vmax=1, interpolation="nearest")
    ax.add_collection(LineCollection(mask_edges(data["occluder_mask"][sequence, 0]), colors=OUTLINE_COLOR, lw=1))
    ax.plot(path[:, 0], path[:, 1], "-", color="white", lw=1, alpha=0.7)
    hidden = ~visible[: t + 1].numpy()
    ax.plot(path[hidden, 0], path[hidden, 1], "x", color="red", ms=4)
    ax.plot([path[-1, 0]], [path[-1, 1]], "o", ms=16, mfc="none", mec=MARKER_COLOR)
    ax.set_xlim(-0.5, config.grid_size - 0.5)
    ax.set_ylim(config.grid_size - 0.5, -0.5)
    ax.set_xlabel("x (column, px)")
    ax.set_ylabel("y (row, px)")
    ax.set_title(f"sequence {sequence}, frame t = {t}" + ("" if visible[t] else " (hidden)"), fontsize=10)

    x, y, vx, vy = states[t].tolist()
    lines = [
        f"frame t = {t} of 0..{T - 1}   dot {'visible' if visible[t] else 'HIDDEN behind an occluder'}",
        f"state s_t: x = {x:6.2f} px (column)  y = {y:6.2f} px (row)  vx = {vx:+.2f}  vy = {vy:+.2f} px/frame",
    ]
    if t > 0:
        ax_, ay_ = actions[t - 1].tolist()
        lines.append(f"a_{t - 1} = ({ax_:+.2f}, {ay_:+.2f}) took frame {t - 1} to this frame")
    ax_, ay_ = actions[t].tolist()
    if t < T - 1:
        lines.append(f"a_{t} = ({ax_:+.2f}, {ay_:+.2f}) takes this frame to frame {t + 1}")
    else:
        lines.append(f"a_{t} = ({ax_:+.2f}, {ay_:+.2f}) would move the dot past the last frame: no frame shows it")
    return fig, "\n".join(lines)


def explore_moving_dot(config: MovingDotConfig | None = None, seed: int = 0, num_sequences: int = 8) -> Any:
    """Sliders over the moving-dot world (chapter 1): time step t, sequence index, occlusion on/off.

    Generates ``num_sequences`` sequences from ``seed`` (regenerated when the occlusion checkbox is
    toggled; the same seed gives the same paths with or without occluders) and shows
    :func:`draw_moving_dot`. Returns an ``ipywidgets.VBox``. Needs ipywidgets and a live kernel.
    """
    widgets = _ipywidgets()
    config = config or MovingDotConfig()
    T = config.seq_len
    cache: dict[bool, dict[str, torch.Tensor]] = {}

    def batch(occlusion: bool) -> dict[str, torch.Tensor]:
        if occlusion not in cache:
            world = dataclasses.replace(config, use_occlusion=occlusion)
            cache[occlusion] = generate_moving_dot_sequences(world, num_sequences, seed)
        return cache[occlusion]

    controls = {
        "t": widgets.IntSlider(value=0, min=0, max=T - 1, description="time step t", continuous_update=False),
        "sequence": widgets.IntSlider(value=0, min=0, max=num_sequences - 1, description="sequence", continuous_update=False),
        "occlusion": widgets.Checkbox(value=config.use_occlusion, description="occluders"),
    }

    def update(t: int, sequence: int, occlusion: bool) -> None:
        _show(*draw_moving_dot(batch(occlusion), config, sequence, t))

    out = widgets.interactive_output(update, controls)  # redraws whenever a control changes
    return widgets.VBox([widgets.HBox(list(controls.values())), out])


# ----- chapter 5: open-loop rollouts -------------------------------------------------------------


@torch.no_grad()
def rollouts_for_context(model: Any, batch: dict[str, torch.Tensor], K: int, num_samples: int, seed: int = 0) -> torch.Tensor:
    """Open-loop predictions from K context frames: (1 + S, B, T-K, 1, H, W).

    Index 0 is the prior-mean rollout; 1..S are sampled futures (seeded, so they repeat).
    """
    obs, actions = batch["obs"], batch["actions"]
    mean = model.open_loop_rollout(obs[:, :K], actions[:, :K], actions[:, K:], K)  # (B, T-K, 1, H, W)
    if num_samples == 0:
        return mean.unsqueeze(0)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        samples = model.open_loop_rollout(obs[:, :K], actions[:, :K], actions[:, K:], K, num_samples=num_samples)
    return torch.cat([mean.unsqueeze(0), samples], 0)


def draw_rollout(obs: torch.Tensor, pred: torch.Tensor, K: int, t: int, label: str = "") -> tuple[Figure, str]:
    """Truth / prediction / error at frame t of one sequence. obs: (T, 1, H, W); pred: (T-K, 1, H, W)."""
    panels = rollout_panels(obs, pred, K)
    fig, axes = plt.subplots(1, 3, figsize=(6.0, 2.4), layout="constrained")
    for ax, (name, frames), signed in zip(axes, panels.as_rows().items(), (False, False, True)):
        if np.isnan(frames[t]).all():
            ax.text(0.5, 0.5, CONTEXT_TEXT, ha="center", va="center", transform=ax.transAxes)
            ax.set_xticks([])
            ax.set_yticks([])
        else:
            draw_frame(ax, frames[t], signed=signed)
        ax.set_title(name + (label if name == "prediction" else ""))
    if t < K:
        text = f"t = {t}: context frame ({t + 1} of K = {K}); the posterior sees it, nothing is predicted"
    else:
        mse = float(np.mean(panels.error[t] ** 2))
        text = f"t = {t}: open loop, {t - K + 1} step(s) after the last context frame; per-pixel MSE {mse:.4f}"
    fig.suptitle(f"frame t = {t} " + ("(context)" if t < K else "(open loop)"))
    return fig, text


def explore_rollout(model: Any, batch: dict[str, torch.Tensor], max_K: int = 16, num_samples: int = 4, seed: int = 0) -> Any:
    """Sliders over open-loop rollouts (chapter 5): time step t, context length K, sample, sequence.

    model: an :class:`rssm.model.RSSM`; batch: dict with ``obs`` (B, T, 1, H, W) and ``actions``
    (B, T, 2). Sample 0 is the prior-mean rollout, 1..``num_samples`` are sampled futures (from
    ``RSSM.open_loop_rollout(..., num_samples=S)``). Rollouts are computed once per K and cached.
    Returns an ``ipywidgets.VBox``. Needs ipywidgets and a live kernel.
    """
    widgets = _ipywidgets()
    obs = batch["obs"]
    if obs.dim() != 5 or batch["actions"].shape[:2] != obs.shape[:2]:
        raise ValueError(f"batch: expected obs (B, T, 1, H, W) and actions (B, T, 2), got {tuple(obs.shape)} and "
                         f"{tuple(batch['actions'].shape)}")
    B, T = obs.shape[:2]
    if isinstance(max_K, bool) or not isinstance(max_K, int) or not 1 <= max_K <= T - 1:
        raise ValueError(f"max_K={max_K!r}: must be an int in [1, T-1 = {T - 1}]")
    if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 0:
        raise ValueError(f"num_samples={num_samples!r}: must be a non-negative int")
    model.eval()
    cache: dict[int, torch.Tensor] = {}

    def rollouts(K: int) -> torch.Tensor:
        if K not in cache:
            cache[K] = rollouts_for_context(model, batch, K, num_samples, seed).cpu()
        return cache[K]

    controls = {
        "t": widgets.IntSlider(value=min(max_K, T - 1), min=0, max=T - 1, description="time step t", continuous_update=False),
        "K": widgets.IntSlider(value=min(8, max_K), min=1, max=max_K, description="context K", continuous_update=False),
        "sample": widgets.IntSlider(value=0, min=0, max=num_samples, description="sample", continuous_update=False),
        "sequence": widgets.IntSlider(value=0, min=0, max=B - 1, description="sequence", continuous_update=False),
    }

    def update(t: int, K: int, sample: int, sequence: int) -> None:
        label = " (prior mean)" if sample == 0 else f" (sample {sample})"
        _show(*draw_rollout(obs[sequence].cpu(), rollouts(K)[sample, sequence], K, t, label))

    out = widgets.interactive_output(update, controls)  # redraws whenever a control changes
    rows = list(controls.values())
    return widgets.VBox([widgets.HBox(rows[:2]), widgets.HBox(rows[2:]), out])
