"""The book's figure style: one look for every figure, sized so that its text is readable on the page.

The book's text column is about 690 CSS pixels wide on a laptop screen. A figure of width ``w``
inches saved at ``DPI`` dots per inch is ``w * DPI`` pixels wide and is shrunk to fit the column, so
text of ``s`` points shows at ``s * DPI / 72 * min(1, 690 / (w * DPI))`` CSS pixels. With figures at
most ``COLUMN_WIDTH`` inches wide, ``DPI`` 100 and no text under ``SMALLEST_FONT`` points, every label
shows at 12 px or more (the browser test checks 9 px on every page).

Every chapter calls :func:`use_book_style` once; the figure helpers in :mod:`rssm.figures`,
:mod:`rssm.players` and :mod:`rssm.widgets` take their sizes, colours and colour maps from here.
"""

from __future__ import annotations

import matplotlib as mpl
import numpy as np
import torch

COLUMN_WIDTH = 6.8  # inches: the widest figure; 680 px at DPI, the width of the book's text column
DPI = 100  # dots per inch of the PNGs the notebooks store
SMALLEST_FONT = 9  # points: ticks, legends and frame labels; nothing is smaller
FRAMES_PER_ROW = 10  # a strip of more frames wraps into rows, so each frame stays 0.68 inches wide

FRAME_CMAP = "magma"  # intensities in [0, 1]: black background, bright dot, purple occluders
ERROR_CMAP = "RdBu_r"  # signed errors in [-1, 1]: red where the prediction is too bright
COLORS = {"model": "C0", "blank": "0.6", "copy_last": "C1", "constant_velocity": "C2"}
LABELS = {"model": "RSSM (prior, open loop)", "blank": "blank frame", "copy_last": "copy last frame",
          "constant_velocity": "constant velocity"}
MARKER_COLOR = "lime"  # where the dot really is, drawn over frames
OUTLINE_COLOR = "cyan"  # the occluders' outline, drawn over frames

BOOK_RC = {
    "figure.dpi": DPI,
    "savefig.dpi": DPI,
    "figure.figsize": (COLUMN_WIDTH, 3.2),
    "figure.facecolor": "white",
    "figure.constrained_layout.use": True,
    "font.size": 10,
    "axes.titlesize": 10,
    "axes.labelsize": 10,
    "figure.titlesize": 11,
    "xtick.labelsize": SMALLEST_FONT,
    "ytick.labelsize": SMALLEST_FONT,
    "legend.fontsize": SMALLEST_FONT,
    "legend.frameon": False,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "lines.linewidth": 1.8,
    "image.cmap": FRAME_CMAP,
    "image.interpolation": "nearest",
}


def use_book_style() -> None:
    """Apply the book's matplotlib settings (call it after ``%matplotlib inline``, which sets its own)."""
    mpl.rcParams.update(BOOK_RC)


def figure_size(columns: int, rows: int, panel: float | None = None, extra_height: float = 0.35) -> tuple[float, float]:
    """(width, height) in inches for a grid of square panels that fits the column.

    Panels are ``panel`` inches wide, or as wide as the column allows (at most 1.6 inches: a frame
    drawn larger shows no more detail); ``extra_height`` leaves room for titles.
    """
    side = min(COLUMN_WIDTH / columns, 1.6) if panel is None else min(panel, COLUMN_WIDTH / columns)
    return side * columns, side * rows + extra_height


Frames = torch.Tensor | np.ndarray


def as_frames(frames: Frames, name: str) -> np.ndarray:
    """(T, 1, H, W) or (T, H, W), tensor or array -> (T, H, W) float array; ``name`` goes in the error."""
    if isinstance(frames, torch.Tensor):
        frames = frames.detach().cpu().float().numpy()
    frames = np.asarray(frames, dtype=float)
    if frames.ndim == 4 and frames.shape[1] == 1:
        frames = frames[:, 0]
    if frames.ndim != 3:
        raise ValueError(f"row {name!r}: expected frames of shape (T, 1, H, W) or (T, H, W), got {frames.shape}")
    if frames.shape[0] < 1:
        raise ValueError(f"row {name!r}: needs at least one frame")
    return frames


def as_image(frame: torch.Tensor | np.ndarray) -> np.ndarray:
    """A frame as an (H, W) float array: from (1, H, W) or (H, W), tensor or array."""
    if isinstance(frame, torch.Tensor):
        frame = frame.detach().cpu().float().numpy()
    frame = np.asarray(frame, dtype=float)
    return frame.reshape(frame.shape[-2:])


def draw_frame(ax, frame: torch.Tensor | np.ndarray, signed: bool = False) -> None:
    """Draw one frame on ``ax`` without ticks: an intensity in [0, 1], or a signed error in [-1, 1]."""
    cmap, vmin = (ERROR_CMAP, -1.0) if signed else (FRAME_CMAP, 0.0)
    ax.imshow(as_image(frame), cmap=cmap, vmin=vmin, vmax=1.0, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)


def mask_edges(mask: np.ndarray | torch.Tensor) -> list[list[tuple[float, float]]]:
    """Pixel-exact boundary of a (H, W) bool mask (the occluders): one segment per pixel side between
    inside and outside, in imshow's coordinates. Draw it with ``LineCollection(segments)``."""
    mask = np.asarray(mask.cpu() if isinstance(mask, torch.Tensor) else mask).astype(bool)
    padded = np.pad(mask.reshape(mask.shape[-2:]), 1)
    segments = []
    rows, cols = np.nonzero(padded[1:, 1:-1] != padded[:-1, 1:-1])  # horizontal edges above row r
    segments += [[(c - 0.5, r - 0.5), (c + 0.5, r - 0.5)] for r, c in zip(rows, cols)]
    rows, cols = np.nonzero(padded[1:-1, 1:] != padded[1:-1, :-1])  # vertical edges left of column c
    segments += [[(c - 0.5, r - 0.5), (c - 0.5, r + 0.5)] for r, c in zip(rows, cols)]
    return segments
