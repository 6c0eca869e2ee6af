"""Kernel-free players: animations that scrub through frames on the static website.

A player is a string of HTML made by matplotlib's ``FuncAnimation(...).to_jshtml()``: every frame is
drawn once, embedded as a PNG, and a little JavaScript (play, pause, step, a slider) flips through
them in the browser, so it works where no Python kernel runs. Notebooks show one with
``display(HTML(player))``; the live versions with sliders that recompute are in :mod:`rssm.widgets`.

Each embedded frame is a full PNG of the figure, so the HTML grows with frames x panels x dpi; the
defaults (dpi 70, 2.4-inch panels) keep a 64-frame, 3-panel player under a megabyte. Sizes, colours
and the occluders' outline come from :mod:`rssm.style`; the open-loop view from
:func:`rssm.figures.rollout_panels`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from html import escape

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.animation import FuncAnimation
from matplotlib.collections import LineCollection

from rssm.figures import CONTEXT_TEXT, rollout_panels
from rssm.style import ERROR_CMAP, FRAME_CMAP, MARKER_COLOR, OUTLINE_COLOR, Frames, as_frames, mask_edges


def frames_player(
    rows: Mapping[str, Frames] | Sequence[Frames],
    titles: Sequence[str] | None = None,
    *,
    fps: float = 4,
    start_index: int = 0,
    frame_labels: Sequence[str] | None = None,
    error_rows: Sequence[str | int] = (),
    outline: Frames | None = None,
    markers: Frames | None = None,
    title: str | None = None,
    missing_text: str = "",
    panel_size: float = 2.4,
    dpi: int = 80,
    default_mode: str = "loop",
    caption: str | None = None,
) -> str:
    """Animate several aligned rows of frames side by side; returns the player's HTML.

    rows: ``{title: frames}`` or a list of frames; each frames is (T, 1, H, W) or (T, H, W) (tensor
    or array), all with the same T. Row r is drawn in panel r, and the player steps through t.
    titles: one per row (defaults to the dict's keys, or "row 0", "row 1", ...).
    fps: frames per second when playing. start_index: the time index of the first frame, so the
    label reads ``t = start_index + i``. frame_labels: T strings appended to each frame's label
    (e.g. "context" / "open loop" / "hidden").
    error_rows: rows (by title or index) holding signed errors, drawn with a diverging map in [-1, 1];
    other rows are intensities in [0, 1].
    outline: (1, H, W) or (H, W) bool mask whose boundary is drawn in every panel (e.g. the occluders).
    markers: (T, 2) positions (x = column, y = row, pixels) marked with a ring in every panel (e.g.
    where the dot really is, even when hidden).
    missing_text: written in a panel whose frame is all NaN (e.g. no prediction for a context frame).
    panel_size (inches) and dpi set the size of every embedded PNG (at dpi 80 its smallest text,
    10 points, shows at 11 px); default_mode is what happens at the end: "loop", "once" or "reflect".
    caption: one line under the player saying what each panel shows.

    Raises ValueError when rows have different lengths or shapes are wrong.
    """
    if isinstance(rows, Mapping):
        names = list(rows.keys())
        raw = list(rows.values())
    else:
        raw = list(rows)
        names = [f"row {i}" for i in range(len(raw))]
    if not raw:
        raise ValueError("frames_player: needs at least one row")
    if titles is not None:
        titles = list(titles)
        if len(titles) != len(raw):
            raise ValueError(f"frames_player: got {len(titles)} titles for {len(raw)} rows")
        names = titles
    data = [as_frames(frames, name) for frames, name in zip(raw, names)]
    lengths = {name: frames.shape[0] for name, frames in zip(names, data)}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"frames_player: all rows need the same number of frames, got {lengths}")
    T = data[0].shape[0]
    if frame_labels is not None and len(frame_labels) != T:
        raise ValueError(f"frames_player: got {len(frame_labels)} frame_labels for {T} frames")
    if isinstance(start_index, bool) or not isinstance(start_index, int) or start_index < 0:
        raise ValueError(f"start_index={start_index!r}: must be a non-negative int")
    if not fps > 0:
        raise ValueError(f"fps={fps!r}: must be positive")
    signed = set()
    for key in error_rows:
        index = key if isinstance(key, int) else (names.index(key) if key in names else None)
        if index is None or not 0 <= index < len(data):
            raise ValueError(f"error_rows: {key!r} is not one of the rows {names}")
        signed.add(index)
    if markers is not None:
        markers = np.asarray(markers.detach().cpu() if isinstance(markers, torch.Tensor) else markers, dtype=float)
        if markers.shape != (T, 2):
            raise ValueError(f"markers: expected shape (T={T}, 2), got {markers.shape}")
    if outline is not None:
        outline = np.asarray(outline.detach().cpu() if isinstance(outline, torch.Tensor) else outline, dtype=bool)
        if outline.shape[-2:] != data[0].shape[1:] or outline.size != data[0][0].size:
            raise ValueError(f"outline: expected a (1, H, W) or (H, W) mask with (H, W) = {data[0].shape[1:]}, got {outline.shape}")
        outline = outline.reshape(outline.shape[-2:])

    fig, axes = plt.subplots(1, len(data), figsize=(panel_size * len(data), panel_size + 0.55), dpi=dpi, squeeze=False,
                             layout="constrained")
    images, rings, blanks = [], [], []
    for r, (ax, frames, name) in enumerate(zip(axes[0], data, names)):
        cmap, vmin = (ERROR_CMAP, -1.0) if r in signed else (FRAME_CMAP, 0.0)
        images.append(ax.imshow(frames[0], cmap=cmap, vmin=vmin, vmax=1.0, interpolation="nearest"))
        ax.set_title(name, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
        if outline is not None:
            ax.add_collection(LineCollection(mask_edges(outline), colors=OUTLINE_COLOR, linewidths=1.0))
        if markers is not None:
            rings.append(ax.plot([], [], "o", ms=16, mfc="none", mec=MARKER_COLOR, mew=1.0)[0])
        blanks.append(ax.text(0.5, 0.5, "", transform=ax.transAxes, ha="center", va="center", fontsize=10, color="0.3"))
    label = fig.suptitle("", fontsize=11)

    def draw(i: int) -> list:
        for image, frames, blank in zip(images, data, blanks):
            image.set_data(frames[i])
            blank.set_text(missing_text if np.isnan(frames[i]).all() else "")
        for ring in rings:
            ring.set_data([markers[i, 0]], [markers[i, 1]])
        text = f"t = {start_index + i}" + (f" ({frame_labels[i]})" if frame_labels is not None else "")
        label.set_text(f"{title}: {text}" if title else text)
        return images + rings + blanks + [label]

    try:
        animation = FuncAnimation(fig, draw, frames=T, init_func=lambda: draw(0), interval=1000 / fps, blit=False)
        alt = f"{title + ': ' if title else ''}{', '.join(names)}, frame by frame ({T} frames)"
        return _fit_page(animation.to_jshtml(fps=fps, default_mode=default_mode), caption, alt)
    finally:
        plt.close(fig)


# matplotlib's player draws its buttons with Font Awesome 4 icons from a CDN; these need nothing remote.
_ICONS = {"fa-minus": "&minus;", "fa-fast-backward": "|&#9664;&#9664;", "fa-step-backward": "|&#9664;",
          "fa-play fa-flip-horizontal": "&#9664;", "fa-pause": "||", "fa-play": "&#9654;",
          "fa-step-forward": "&#9654;|", "fa-fast-forward": "&#9654;&#9654;|", "fa-plus": "+"}  # in every text font
_FIT_CSS = """<style>
.rssm-player { margin: 0 0 1em 0; max-width: 100%; }
.rssm-player .animation { max-width: 100%; }
.rssm-player .animation img { max-width: 100%; height: auto; }
.rssm-player input[type=range].anim-slider { width: 100%; max-width: 374px; }
.rssm-player .anim-buttons button { font-size: 12px; line-height: 26px; letter-spacing: -1px; }
.rssm-player figcaption { font-size: 0.9em; color: #555; }
</style>"""


def _fit_page(html: str, caption: str | None, alt: str) -> str:
    """Make matplotlib's player work offline and fit any column: local button glyphs instead of the
    CDN icon font, images and slider no wider than the page, alt text on the frame image (what a
    screen reader says of it), and an optional caption underneath."""
    html = re.sub(r'<link rel="stylesheet"\s+href="https://[^"]*font-awesome[^"]*">', "", html)
    for icon, glyph in _ICONS.items():
        html = html.replace(f'<i class="fa {icon}"></i>', glyph)
    if "https://" in html:
        raise RuntimeError("frames_player: matplotlib's player now loads something remote; update _fit_page")
    if html.count('<img id="_anim_img') != 1:
        raise RuntimeError("frames_player: matplotlib's player no longer has one frame <img>; update _fit_page")
    html = html.replace('<img id="_anim_img', f'<img alt="{escape(alt)}" id="_anim_img')
    text = f"<figcaption>{escape(caption)}</figcaption>" if caption else ""
    return f'{_FIT_CSS}<figure class="rssm-player">{html}{text}</figure>'


def rollout_player(obs: Frames, pred: Frames, K: int, *, fps: float = 4, title: str | None = None, **kwargs) -> str:
    """Truth / prediction / error of one open-loop rollout, as a player (chapter 5).

    obs: (T, 1, H, W), the whole true sequence; pred: (T-K, 1, H, W), frames K..T-1 predicted from the
    first K (one sequence of :meth:`rssm.model.RSSM.open_loop_rollout`). Frames 0..K-1 are labelled
    "context" (the model saw them; prediction and error panels stay empty), the rest "open loop".
    The error is prediction - truth, in [-1, 1]. Other keyword arguments go to :func:`frames_player`.
    """
    panels = rollout_panels(obs, pred, K)
    return frames_player(panels.as_rows(), fps=fps, frame_labels=panels.labels, error_rows=[2], title=title,
                         missing_text=CONTEXT_TEXT, **kwargs)
