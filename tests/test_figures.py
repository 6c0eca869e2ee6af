"""Static figure helpers (rssm.figures): what each draws, read back from the matplotlib objects."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from rssm.figures import mark_positions, plot_frames, plot_loss_curves, shade_hidden
from rssm.style import MARKER_COLOR


def test_mark_positions_rings_every_frame_and_keeps_its_limits():
    frames = torch.rand(13, 1, 8, 8)  # wraps into two rows, with one spare panel
    fig = plot_frames(frames)
    limits = [(ax.get_xlim(), ax.get_ylim()) for ax in fig.axes if ax.images]
    positions = torch.stack([torch.arange(13.0) % 8, torch.full((13,), 3.0)], 1)
    assert mark_positions(fig, positions) is fig
    panels = [ax for ax in fig.axes if ax.images]
    assert len(panels) == 13
    for ax, (x, y), limit in zip(panels, positions.tolist(), limits):
        (ring,) = ax.lines
        assert ring.get_xdata().tolist() == [x] and ring.get_ydata().tolist() == [y]
        assert ring.get_markeredgecolor() == MARKER_COLOR
        assert (ax.get_xlim(), ax.get_ylim()) == limit
    plt.close(fig)


def test_mark_positions_needs_one_position_per_frame():
    fig = plot_frames(torch.rand(4, 1, 8, 8))
    with pytest.raises(ValueError, match=r"\(4, 2\)"):
        mark_positions(fig, np.zeros((3, 2)))
    plt.close(fig)


def test_shade_hidden_draws_one_band_per_hidden_frame_at_its_time():
    fig, ax = plt.subplots()
    shade_hidden(ax, torch.tensor([True, False, False, True, False]), start=10)
    bands = sorted(patch.get_x() for patch in ax.patches)
    assert bands == pytest.approx([10.5, 11.5, 13.5])
    assert all(patch.get_width() == pytest.approx(1.0) for patch in ax.patches)
    plt.close(fig)


def test_the_loss_curves_show_both_reconstructions_labelled_and_skip_one_an_old_history_lacks():
    steps = 60
    history = {"loss": [1.0] * steps, "recon": [3.0] * steps, "recon_unweighted": [1.0] * steps, "kl": [2.0] * steps,
               "val_step": [30, 60], "val_pos_err_h10": [5.0, 4.0]}
    fig = plot_loss_curves(history)
    labels = [line.get_label() for line in fig.axes[0].get_lines()]
    assert labels == ["reconstruction weighted by the dot weight (what the optimiser sees)",
                      "reconstruction unweighted (the frame's error)"]
    plt.close(fig)
    old = {**history, "recon_unweighted": [float("nan")] * steps}  # resumed from before the key existed
    fig = plot_loss_curves(old)
    assert len(fig.axes[0].get_lines()) == 1
    plt.close(fig)
