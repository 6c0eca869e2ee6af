"""Draw the book's explanatory diagrams as SVG files in ``book/images/``.

Run from the repository root::

    .venv/bin/python scripts/draw_diagrams.py            # writes book/images/*.svg
    .venv/bin/python scripts/draw_diagrams.py --out DIR  # writes them somewhere else

It draws, in the visual language of the hand-made ``rssm_architecture.svg`` (blue for the
deterministic state h, orange for the stochastic state z, green for the posterior q, red and dashed
for the prior p and imagination, purple for the CNNs):

- ``time_alignment.svg``  which action enters which GRU step, in context and open loop (chapters 1, 5);
- ``encoder_decoder.svg`` the shapes through the CNN encoder and decoder (chapter 2);
- ``rssm_cell.svg``       one RSSM step with every layer and tensor size (chapter 3);
- ``kl_balancing.svg``    KL balancing's two stop-gradient paths and free bits (chapter 4);
- ``training_step.svg``   one training step, from batch to Adam, with its schedules (chapter 4);
- ``filtering.svg``       filtering as predict-then-correct, with an occluded frame (chapter 6).

Sizes and hyperparameters are read at run time from ``RSSMConfig()``, ``TrainConfig()`` and
``MovingDotConfig()``, so re-running the script keeps the pictures true when the defaults change.
The output is deterministic: re-running gives identical bytes (``tests/test_diagrams.py`` checks
that the committed files are up to date, so edit this script, never the SVGs).

Every label is laid out with DejaVu Sans advance widths (the widest font of the stack), and
:class:`Svg` records labels that overlap, overflow their box or leave the canvas
(``Svg.layout_problems``); the test fails on any.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from a checkout without installing the package
    sys.path.insert(0, str(ROOT))

from rssm.dataset import MovingDotConfig
from rssm.model import RSSMConfig
from rssm.train import TrainConfig, dot_weight_at, learning_rate_at

DEFAULT_OUT = ROOT / "book" / "images"
FONT_FAMILY = "DejaVu Sans, Helvetica, Arial, sans-serif"
MONO_FAMILY = "DejaVu Sans Mono, Menlo, Consolas, monospace"
MIN_FONT_SIZE = 11  # user units; at 760 units shown 690 px wide this is 10 CSS px

Point = tuple[float, float]

# ----- palette, shared with book/images/rssm_architecture.svg ---------------------------------------


@dataclass(frozen=True)
class Style:
    fill: str
    stroke: str


INK = "#222222"
ARROW = "#333333"
MUTED = "#444444"
SOFT = "#666666"
FAINT = "#999999"
WHITE = "#ffffff"
DETER = Style("#dbe7f7", "#2f5d9e")  # h: deterministic state, GRU
STOCH = Style("#fde3c8", "#c4621a")  # z: stochastic state
POSTERIOR = Style("#d9f0dc", "#2e7d32")  # q: sees the frame
PRIOR = Style("#fbe3e6", "#b03a48")  # p: predicts without the frame (dashed arrows)
CODEC = Style("#ece6f5", "#5e4b8b")  # CNN encoder and decoder
EMBED = Style("#f2f2f2", "#555555")  # embeddings, actions, plain operations
PANEL = Style("#f6f7f9", "#d5d9e0")  # background panels
NOTE = Style("#ffffff", "#d5d9e0")  # legends and notes
COLOURS = {"r": PRIOR.stroke, "g": POSTERIOR.stroke, "o": STOCH.stroke, "d": DETER.stroke, "p": CODEC.stroke, "m": SOFT}
OCCLUDER_GREY = "#595959"  # MovingDotConfig.occluder_intensity = 0.35 of white
PRIOR_DASH = "6 4"

# ----- text measurement (DejaVu Sans advance widths, 1/1000 em, for characters 32..126) ---------------

_ASCII_REGULAR = (
    "318 401 460 838 636 950 780 275 390 390 500 838 318 361 318 337 636 636 636 636 636 636 636 636 636 636 "
    "337 337 838 838 838 531 1000 684 686 698 770 632 575 775 752 295 295 656 557 863 748 787 603 787 695 635 "
    "611 732 684 989 685 611 685 390 337 390 838 500 500 613 635 550 635 615 352 635 634 278 278 579 278 974 "
    "634 612 635 635 411 521 392 634 592 818 592 592 525 636 337 636 838"
)
_ASCII_BOLD = (
    "348 456 521 838 696 1002 872 306 457 457 523 838 380 415 380 365 696 696 696 696 696 696 696 696 696 696 "
    "400 400 838 838 838 580 1000 774 762 734 830 683 683 821 837 372 372 775 637 995 837 850 733 850 770 720 "
    "682 812 774 1103 771 724 725 457 365 457 838 500 500 675 716 593 716 678 435 716 712 343 343 665 343 1042 "
    "712 687 716 716 493 595 478 712 652 924 645 652 582 712 365 712 838"
)
ADVANCE = {False: [int(w) for w in _ASCII_REGULAR.split()], True: [int(w) for w in _ASCII_BOLD.split()]}
WIDE_SYMBOLS = set("→←↑↓×−≈≤≥⊘✂∼∇")  # 838/1000 em in DejaVu Sans
NARROW_SYMBOLS = {"·": 318, "‖": 500, "…": 1000, "ε": 541, "μ": 636, "σ": 634, "β": 636, "∑": 674, "²": 401, "θ": 612}
COMBINING = {"\u0302"}  # the hat of x̂ takes no width


def char_width(char: str, bold: bool = False, mono: bool = False) -> float:
    """Advance width of one character in em (DejaVu Sans; unknown characters count as 0.7 em)."""
    if char in COMBINING or char == "\u200b":
        return 0.0
    if mono:
        return 0.602
    code = ord(char)
    if 32 <= code < 127:
        return ADVANCE[bold][code - 32] / 1000
    if char in WIDE_SYMBOLS:
        return 0.838
    return NARROW_SYMBOLS.get(char, 700) / 1000


# ----- rich text: a tiny markup for math labels --------------------------------------------------------
#   *h*        italic            _{t−1}   subscript          ^{2}   superscript
#   `code`     monospace         <b>..</b> bold               <r>..</r> <g> <o> <d> <p> <m>: colours


@dataclass(frozen=True)
class Run:
    text: str
    italic: bool = False
    bold: bool = False
    mono: bool = False
    shift: str = ""  # "", "sub" or "sup"
    colour: str | None = None


_TOKENS = re.compile(r"(\*|_\{[^}]*\}|\^\{[^}]*\}|`[^`]*`|</?[bgrodpm]>)")


def parse_rich(markup: str) -> list[Run]:
    """Split a label written in the markup above into styled runs."""
    runs: list[Run] = []
    italic = bold = False
    colours: list[str] = []
    for token in _TOKENS.split(markup):
        if not token:
            continue
        colour = colours[-1] if colours else None
        if token == "*":
            italic = not italic
        elif token == "<b>" or token == "</b>":
            bold = token == "<b>"
        elif re.fullmatch(r"<[grodpm]>", token):
            colours.append(COLOURS[token[1]])
        elif re.fullmatch(r"</[grodpm]>", token):
            colours.pop()
        elif token.startswith(("_{", "^{")):
            runs.append(Run(token[2:-1], bold=bold, shift="sub" if token[0] == "_" else "sup", colour=colour))
        elif token.startswith("`"):
            runs.append(Run(token[1:-1], bold=bold, mono=True, colour=colour))
        else:
            runs.append(Run(token, italic, bold, colour=colour))
    return runs


def run_size(run: Run, size: float) -> float:
    return max(MIN_FONT_SIZE, round(size * 0.75)) if run.shift else size


def shift_dy(shift: str, size: float) -> float:
    return {"": 0.0, "sub": round(size * 0.3), "sup": -round(size * 0.4)}[shift]


def text_width(markup: str, size: float, bold: bool = False) -> float:
    """Width in user units of a rich label at ``size`` (DejaVu Sans, the widest of the font stack)."""
    total = 0.0
    for run in parse_rich(markup):
        total += sum(char_width(ch, bold or run.bold, run.mono) for ch in run.text) * run_size(run, size)
    return total


def num(value: float) -> str:
    """A number for SVG attributes: rounded to 0.1 and without a trailing .0."""
    text = f"{round(value, 1):.1f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def fmt(value: float) -> str:
    """A hyperparameter for a label: 0.8, 1, 100, 0.001 (no float noise like 0.19999999)."""
    return f"{round(value, 9):g}"


def times(*sizes: int) -> str:
    """A tensor shape as 1×32×32."""
    return "×".join(str(s) for s in sizes)


# ----- the SVG builder ------------------------------------------------------------------------------


@dataclass
class Box:
    """A text's (or shape's) bounding box, for the layout checks."""

    x0: float
    y0: float
    x1: float
    y1: float
    label: str

    def overlaps(self, other: Box, margin: float = 0.5) -> bool:
        return (
            self.x0 < other.x1 - margin
            and other.x0 < self.x1 - margin
            and self.y0 < other.y1 - margin
            and other.y0 < self.y1 - margin
        )


@dataclass
class Svg:
    """An SVG document built element by element, with layout checks on its labels."""

    width: int
    height: int
    title: str
    desc: str
    prefix: str  # makes ids unique when several diagrams share a page
    elements: list[str] = field(default_factory=list)
    defs: list[str] = field(default_factory=list)
    text_boxes: list[Box] = field(default_factory=list)
    shape_boxes: list[Box] = field(default_factory=list)  # boxes no label may cross and no box may overlap
    layout_problems: list[str] = field(default_factory=list)

    # --- primitives ---

    def add(self, element: str) -> None:
        self.elements.append(element)

    def rect(
        self,
        x: float,
        y: float,
        w: float,
        h: float,
        style: Style,
        rx: float = 6,
        stroke_width: float = 1.6,
        dash: str | None = None,
        opacity: float | None = None,
    ) -> None:
        extra = f' stroke-dasharray="{dash}"' if dash else ""
        extra += f' opacity="{opacity}"' if opacity is not None else ""
        self.add(
            f'<rect x="{num(x)}" y="{num(y)}" width="{num(w)}" height="{num(h)}" rx="{num(rx)}" fill="{style.fill}" '
            f'stroke="{style.stroke}" stroke-width="{stroke_width}"{extra}/>'
        )

    def circle(
        self, cx: float, cy: float, r: float, style: Style, stroke_width: float = 1.8, dash: str | None = None
    ) -> None:
        extra = f' stroke-dasharray="{dash}"' if dash else ""
        self.add(
            f'<circle cx="{num(cx)}" cy="{num(cy)}" r="{num(r)}" fill="{style.fill}" stroke="{style.stroke}" '
            f'stroke-width="{stroke_width}"{extra}/>'
        )

    def polygon(self, points: Sequence[Point], style: Style, stroke_width: float = 1.6) -> None:
        pts = " ".join(f"{num(x)},{num(y)}" for x, y in points)
        self.add(f'<polygon points="{pts}" fill="{style.fill}" stroke="{style.stroke}" stroke-width="{stroke_width}"/>')

    def line(
        self,
        points: Sequence[Point],
        colour: str = ARROW,
        width: float = 1.7,
        dash: str | None = None,
        opacity: float | None = None,
        cap: str = "butt",
    ) -> None:
        pts = " ".join(f"{num(x)},{num(y)}" for x, y in points)
        extra = f' stroke-dasharray="{dash}"' if dash else ""
        extra += f' stroke-opacity="{opacity}"' if opacity is not None else ""
        extra += f' stroke-linecap="{cap}"' if cap != "butt" else ""
        self.add(f'<polyline points="{pts}" fill="none" stroke="{colour}" stroke-width="{width}"{extra}/>')

    def arrow(
        self,
        points: Sequence[Point],
        colour: str = ARROW,
        width: float = 1.7,
        dash: str | None = None,
        opacity: float | None = None,
        both: bool = False,
    ) -> None:
        """A polyline whose last point is the tip of a triangular head (and the first too, if ``both``)."""
        length, half = 9 + 1.6 * width, 4 + 0.9 * width
        pts = list(points)
        heads = [self._head(pts[-2], pts[-1], length, half)]
        pts[-1] = self._pull_back(pts[-2], pts[-1], 0.75 * length)
        if both:
            heads.append(self._head(pts[1], pts[0], length, half))
            pts[0] = self._pull_back(pts[1], pts[0], 0.75 * length)
        self.line(pts, colour, width, dash, opacity)
        for head in heads:
            extra = f' fill-opacity="{opacity}"' if opacity is not None else ""
            self.add(f'<polygon points="{" ".join(f"{num(x)},{num(y)}" for x, y in head)}" fill="{colour}"{extra}/>')

    @staticmethod
    def _pull_back(start: Point, end: Point, by: float) -> Point:
        dx, dy = end[0] - start[0], end[1] - start[1]
        d = math.hypot(dx, dy)
        return (end[0] - dx / d * by, end[1] - dy / d * by)

    @staticmethod
    def _head(start: Point, tip: Point, length: float, half: float) -> list[Point]:
        dx, dy = tip[0] - start[0], tip[1] - start[1]
        d = math.hypot(dx, dy)
        ux, uy = dx / d, dy / d
        bx, by = tip[0] - ux * length, tip[1] - uy * length
        return [tip, (bx - uy * half, by + ux * half), (bx + uy * half, by - ux * half)]

    def junction(self, x: float, y: float, colour: str = ARROW) -> None:
        self.add(f'<circle cx="{num(x)}" cy="{num(y)}" r="3.5" fill="{colour}"/>')

    def text(
        self,
        x: float,
        y: float,
        markup: str,
        size: float = 13,
        anchor: str = "middle",
        bold: bool = False,
        fill: str = INK,
        italic: bool = False,
        check: bool = True,
    ) -> Box:
        """A label at baseline y. Returns its bounding box (and records it for the overlap check)."""
        if size < MIN_FONT_SIZE:
            self.layout_problems.append(f"{self.prefix}: font-size {size} < {MIN_FONT_SIZE} for {markup!r}")
        runs = parse_rich(markup)
        attrs = f'x="{num(x)}" y="{num(y)}" font-size="{num(size)}"'
        if anchor != "start":
            attrs += f' text-anchor="{anchor}"'
        if bold:
            attrs += ' font-weight="bold"'
        if fill != INK:
            attrs += f' fill="{fill}"'
        if italic:
            attrs += ' font-style="italic"'
        parts, shift_now, low, high = [], 0.0, y + 0.24 * size, y - 0.76 * size
        for run in runs:
            rsize = run_size(run, size)
            target = shift_dy(run.shift, size)
            tattrs = ""
            if target != shift_now:
                tattrs += f' dy="{num(target - shift_now)}"'
                shift_now = target
            if run.shift:
                tattrs += f' font-size="{num(rsize)}"'
                low, high = max(low, y + target + 0.24 * rsize), min(high, y + target - 0.76 * rsize)
            if run.italic and not italic:
                tattrs += ' font-style="italic"'
            if run.bold and not bold:
                tattrs += ' font-weight="bold"'
            if run.mono:
                tattrs += f' font-family="{MONO_FAMILY}"'
            if run.colour:
                tattrs += f' fill="{run.colour}"'
            body = escape(run.text)
            parts.append(f"<tspan{tattrs}>{body}</tspan>" if tattrs else body)
        self.add(f"<text {attrs}>{''.join(parts)}</text>")
        w = text_width(markup, size, bold)
        x0 = {"start": x, "middle": x - w / 2, "end": x - w}[anchor]
        box = Box(x0, high, x0 + w, low, markup)
        if check:
            self.text_boxes.append(box)
        return box

    def lines(
        self,
        x: float,
        y: float,
        markups: Sequence[str],
        size: float = 13,
        leading: float | None = None,
        anchor: str = "middle",
        bold: bool = False,
        fill: str = INK,
    ) -> list[Box]:
        """Several labels, one under the other, the first baseline at y."""
        step = leading or round(size * 1.35)
        return [self.text(x, y + i * step, m, size, anchor, bold, fill) for i, m in enumerate(markups)]

    # --- composite shapes ---

    def label_box(
        self,
        x: float,
        y: float,
        w: float,
        h: float,
        style: Style,
        labels: Sequence[tuple[str, float, bool, str]],
        rx: float = 6,
        stroke_width: float = 1.6,
        dash: str | None = None,
        leading: float = 1.3,
    ) -> None:
        """A box with centred lines (markup, size, bold, colour), checked to fit inside."""
        self.rect(x, y, w, h, style, rx, stroke_width, dash)
        self.shape_boxes.append(Box(x, y, x + w, y + h, labels[0][0] if labels else "box"))
        heights = [size * leading for _, size, _, _ in labels]
        top = y + (h - sum(heights)) / 2
        for (markup, size, bold, colour), line_h in zip(labels, heights):
            baseline = top + line_h / 2 + 0.36 * size
            box = self.text(x + w / 2, baseline, markup, size, bold=bold, fill=colour)
            if box.x0 < x + 3 or box.x1 > x + w - 3 or box.y0 < y + 1 or box.y1 > y + h - 1:
                self.layout_problems.append(f"{self.prefix}: {markup!r} does not fit its box")
            top += line_h

    def trapezoid(
        self,
        cx: float,
        y: float,
        wide: float,
        narrow: float,
        h: float,
        style: Style,
        label: str,
        wide_on_top: bool,
    ) -> None:
        top, bottom = (wide, narrow) if wide_on_top else (narrow, wide)
        self.polygon([(cx - top / 2, y), (cx + top / 2, y), (cx + bottom / 2, y + h), (cx - bottom / 2, y + h)], style)
        self.text(cx, y + h / 2 + 5, label, 14, bold=True, fill=style.stroke)

    def state_circle(
        self, cx: float, cy: float, r: float, label: str, ring: Style = STOCH, dash: str | None = None
    ) -> None:
        self.circle(cx, cy, r, Style(STOCH.fill, ring.stroke), 2, dash)
        self.text(cx, cy + 5, label, 16)

    def frame(
        self,
        x: float,
        y: float,
        size: float,
        dot: Point | None,
        occluders: Sequence[tuple[float, float, float, float]] = (),
        blurred: bool = False,
        dot_opacity: float = 1.0,
        border: Style | None = None,
        dash: str | None = None,
    ) -> None:
        """A moving-dot frame: black, a white Gaussian dot at (u, v) in [0, 1]^2, grey occluders over it."""
        self.add(f'<rect x="{num(x)}" y="{num(y)}" width="{num(size)}" height="{num(size)}" fill="#000000"/>')
        if dot is not None:
            gradient = "dotblur" if blurred else "dot"
            r = size * (0.17 if blurred else 0.13)
            opacity = f' opacity="{dot_opacity}"' if dot_opacity != 1 else ""
            self.add(
                f'<circle cx="{num(x + dot[0] * size)}" cy="{num(y + dot[1] * size)}" r="{num(r)}" '
                f'fill="url(#{self.prefix}-{gradient})"{opacity}/>'
            )
        for u, v, w, h in occluders:
            self.add(
                f'<rect x="{num(x + u * size)}" y="{num(y + v * size)}" width="{num(w * size)}" '
                f'height="{num(h * size)}" fill="{OCCLUDER_GREY}"/>'
            )
        edge = border or Style("none", "#888888")
        dashed = f' stroke-dasharray="{dash}"' if dash else ""
        wide = 2 if border else 1
        self.add(
            f'<rect x="{num(x)}" y="{num(y)}" width="{num(size)}" height="{num(size)}" fill="none" '
            f'stroke="{edge.stroke}" stroke-width="{wide}"{dashed}/>'
        )

    def gap(self, x: float, y: float, vertical: bool, length: float = 14, background: str = WHITE) -> None:
        """Blank out a short piece of a line, so that another line can cross it as a bridge."""
        if vertical:
            self.line([(x, y - length / 2), (x, y + length / 2)], background, 9)
        else:
            self.line([(x - length / 2, y), (x + length / 2, y)], background, 9)

    # --- output ---

    def check_layout(self) -> list[str]:
        """Labels that overlap each other or leave the canvas, plus the problems found while drawing."""
        problems = list(self.layout_problems)
        for box in self.text_boxes:
            if box.x0 < 1 or box.y0 < 1 or box.x1 > self.width - 1 or box.y1 > self.height - 1:
                problems.append(f"{self.prefix}: {box.label!r} leaves the canvas")
        for i, a in enumerate(self.text_boxes):
            for b in self.text_boxes[i + 1 :]:
                if a.overlaps(b):
                    problems.append(f"{self.prefix}: {a.label!r} overlaps {b.label!r}")
        for i, shape in enumerate(self.shape_boxes):
            for other in self.shape_boxes[i + 1 :]:
                if shape.overlaps(other, margin=0):
                    problems.append(f"{self.prefix}: box {shape.label!r} overlaps box {other.label!r}")
            for box in self.text_boxes:
                inside = shape.x0 <= box.x0 and box.x1 <= shape.x1 and shape.y0 <= box.y0 and box.y1 <= shape.y1
                if shape.overlaps(box) and not inside:
                    problems.append(f"{self.prefix}: label {box.label!r} crosses the edge of box {shape.label!r}")
        return problems

    def render(self) -> str:
        p = self.prefix
        gradients = (
            f'<radialGradient id="{p}-dot"><stop offset="0" stop-color="#ffffff"/>'
            '<stop offset="0.55" stop-color="#ffffff" stop-opacity="0.8"/>'
            '<stop offset="1" stop-color="#ffffff" stop-opacity="0"/></radialGradient>\n'
            f'<radialGradient id="{p}-dotblur"><stop offset="0" stop-color="#ffffff" stop-opacity="0.85"/>'
            '<stop offset="1" stop-color="#ffffff" stop-opacity="0"/></radialGradient>'
        )
        head = (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{self.width}" height="{self.height}" '
            f'viewBox="0 0 {self.width} {self.height}" font-family="{FONT_FAMILY}" fill="{INK}">\n'
            f"<title>{escape(self.title)}</title>\n<desc>{escape(self.desc)}</desc>\n"
            f"<defs>\n{gradients}\n" + "".join(d + "\n" for d in self.defs) + "</defs>\n"
            f'<rect x="0" y="0" width="{self.width}" height="{self.height}" fill="#ffffff"/>\n'
        )
        return head + "\n".join(self.elements) + "\n</svg>\n"


def legend_arrow(
    svg: Svg,
    x: float,
    y: float,
    label: str,
    colour: str = ARROW,
    dash: str | None = None,
    width: float = 1.7,
    size: float = 12,
) -> Box:
    """A short sample arrow followed by its meaning (y is the label's baseline)."""
    svg.arrow([(x, y - 4), (x + 34, y - 4)], colour, width, dash)
    return svg.text(x + 42, y, label, size, "start")


# ----- 1. one RSSM step ----------------------------------------------------------------------------


def shape_chain(shapes: Sequence[str], first_prefix: str = "", max_width: float = 150, size: float = 12) -> list[str]:
    """Shapes joined by arrows and wrapped into lines no wider than ``max_width``."""
    lines: list[str] = []
    current = first_prefix + shapes[0]
    for shape in shapes[1:]:
        candidate = f"{current} → {shape}"
        if text_width(candidate, size) <= max_width:
            current = candidate
        else:
            lines.append(current)
            current = f"→ {shape}"
    lines.append(current)
    return lines


def encoder_shapes(c: RSSMConfig) -> list[tuple[int, int]]:
    """(channels, side) after each stride-2 conv of the encoder."""
    return [(c.cnn_depth * 2**i, c.image_size // 2 ** (i + 1)) for i in range(c.cnn_layers)]


def draw_rssm_cell(c: RSSMConfig | None = None) -> Svg:
    c = c or RSSMConfig()
    gru_in = c.stoch_dim + c.action_dim
    post_in = c.deter_dim + c.embed_dim
    feat = c.deter_dim + c.stoch_dim
    enc = encoder_shapes(c)
    top_channels, side = enc[-1]
    flat = top_channels * side * side
    gru_kind = "LayerNorm GRU" if c.gru_layer_norm else "GRU (nn.GRUCell)"
    svg = Svg(
        760,
        548,
        "One step of the RSSM cell, with its tensor sizes",
        f"One step t of the recurrent state-space model. The previous stochastic state z_(t-1) ({c.stoch_dim} numbers) "
        f"and the previous action a_(t-1) ({c.action_dim}) are concatenated ({gru_in}) and passed through a Linear "
        f"layer with SiLU ({c.hidden_dim}) into a {gru_kind} cell, which updates the deterministic state "
        f"h_(t-1) to h_t ({c.deter_dim}). The prior MLP maps h_t to the mean and std of p(z_t | h_t); the posterior "
        f"MLP maps h_t and the frame embedding e_t ({c.embed_dim}) to q(z_t | h_t, e_t). Each outputs "
        f"2 x {c.stoch_dim} numbers, std = softplus + {fmt(c.min_std)}. The encoder turns the frame x_t "
        f"({times(c.image_channels, c.image_size, c.image_size)}) into e_t with {c.cnn_layers} stride-2 convolutions; "
        f"z_t is a reparameterised sample; the decoder turns (h_t, z_t) ({feat}) into the reconstruction x-hat_t. "
        "h_t and z_t go on to step t+1.",
        "cell",
    )
    rail_y, z_y = 178, 392
    # panel for step t, with what comes from t-1 on the left and what goes to t+1 on the right
    svg.rect(112, 6, 548, 536, PANEL, rx=10, stroke_width=1)
    svg.text(386, 27, "one step, time *t*", 15, bold=True, fill=MUTED)
    svg.text(56, 27, "from step *t*−1", 12, fill=MUTED)
    svg.text(712, 27, "to step *t*+1", 12, fill=MUTED)

    # inputs from step t-1
    svg.label_box(22, 160, 68, 36, DETER, [("*h*_{t−1}", 17, False, INK)], rx=3, stroke_width=2)
    svg.text(56, 216, str(c.deter_dim), 12, fill=SOFT)
    svg.state_circle(56, 298, 22, "*z*_{t−1}")
    svg.text(56, 337, str(c.stoch_dim), 12, fill=SOFT)
    svg.text(56, 380, "*a*_{t−1}", 17)
    svg.text(56, 398, str(c.action_dim), 12, fill=SOFT)

    # recurrent input: concat -> Linear+SiLU -> GRU
    col_x, col_w = 128, 120
    col_c = col_x + col_w / 2
    svg.label_box(col_x, 286, col_w, 44, EMBED, [("concat", 13, True, MUTED), ("[*z*, *a*]", 13, False, INK)])
    svg.arrow([(78, 298), (col_x, 298)])
    svg.arrow([(86, 375), (104, 375), (104, 318), (col_x, 318)])
    svg.label_box(col_x, 230, col_w, 34, EMBED, [("Linear + SiLU", 13, False, INK)])
    svg.arrow([(col_c, 286), (col_c, 264)])
    svg.text(col_c + 8, 280, str(gru_in), 12, "start", fill=SOFT)
    gru_note = "with LayerNorm" if c.gru_layer_norm else "nn.GRUCell"
    svg.label_box(col_x, 146, col_w, 64, DETER, [("GRU cell", 14, True, DETER.stroke), (gru_note, 12, False, INK)])
    svg.arrow([(col_c, 230), (col_c, 210)])
    svg.text(col_c + 8, 224, str(c.hidden_dim), 12, "start", fill=SOFT)
    svg.arrow([(90, rail_y), (col_x, rail_y)])

    # h_t and the rail to t+1 (drawn after the z line, so that the rail bridges it)
    hx = 340
    svg.label_box(hx - 35, 160, 70, 36, DETER, [("*h*_{t}", 18, False, INK)], rx=3, stroke_width=2)
    svg.arrow([(col_x + col_w, rail_y), (hx - 35, rail_y)])
    svg.text(hx + 8, 216, str(c.deter_dim), 12, "start", fill=SOFT)

    # posterior and prior MLPs
    px, qx, mlp_w, mlp_y, mlp_h = 556, hx, 164, 240, 96
    heads = f"SiLU · Linear → {2 * c.stoch_dim}"
    svg.label_box(
        qx - mlp_w / 2,
        mlp_y,
        mlp_w,
        mlp_h,
        POSTERIOR,
        [
            ("posterior MLP", 14, True, POSTERIOR.stroke),
            (f"Linear {post_in} → {c.hidden_dim}", 12, False, INK),
            (heads, 12, False, INK),
            ("q(*z*_{t} | *h*_{t}, *e*_{t})", 14, False, INK),
        ],
    )
    svg.label_box(
        px - mlp_w / 2,
        mlp_y,
        mlp_w,
        mlp_h,
        PRIOR,
        [
            ("prior MLP", 14, True, PRIOR.stroke),
            (f"Linear {c.deter_dim} → {c.hidden_dim}", 12, False, INK),
            (heads, 12, False, INK),
            ("p(*z*_{t} | *h*_{t})", 14, False, INK),
        ],
    )
    svg.arrow([(hx, 196), (hx, mlp_y)])
    svg.arrow([(px, rail_y), (px, mlp_y)])
    svg.junction(px, rail_y)
    kl_y = mlp_y + 48
    svg.arrow([(qx + mlp_w / 2 + 1, kl_y), (px - mlp_w / 2 - 1, kl_y)], ARROW, 1.4, "5 3", both=True)
    svg.text((qx + px) / 2, kl_y - 8, "KL", 12, bold=True, fill=MUTED)

    # z_t: a posterior sample when observing, a prior sample when imagining (dashed)
    zx = (qx + px) / 2
    svg.arrow([(qx + 40, mlp_y + mlp_h), (zx - 14, z_y - 18)])
    svg.arrow([(px - 40, mlp_y + mlp_h), (zx + 14, z_y - 18)], PRIOR.stroke, 1.7, PRIOR_DASH)
    svg.state_circle(zx, z_y, 23, "*z*_{t}")
    svg.text(zx, z_y + 41, str(c.stoch_dim), 12, fill=SOFT)

    # encoder: x_t -> e_t -> posterior
    svg.frame(hx - 26, 478, 52, (0.3, 0.68), [(0.6, 0.12, 0.28, 0.42)])
    svg.text(hx + 34, 500, "*x*_{t}", 17, "start")
    svg.text(hx + 34, 519, times(c.image_channels, c.image_size, c.image_size), 12, "start", fill=SOFT)
    svg.trapezoid(hx, 428, 150, 108, 34, CODEC, "CNN encoder", wide_on_top=False)
    svg.arrow([(hx, 478), (hx, 462)])
    svg.label_box(hx - 28, 372, 56, 30, EMBED, [("*e*_{t}", 16, False, INK)], rx=3)
    svg.text(hx + 35, 392, str(c.embed_dim), 12, "start", fill=SOFT)
    svg.arrow([(hx, 428), (hx, 402)])
    svg.arrow([(hx, 372), (hx, mlp_y + mlp_h)])
    shapes = [times(c.image_channels, c.image_size, c.image_size)] + [times(ch, s, s) for ch, s in enc]
    encoder_notes = ["4×4 convs, stride 2, SiLU:"] + shape_chain(shapes, max_width=150)
    encoder_notes += [f"flatten {flat} → Linear", f"+ SiLU → {c.embed_dim}"]
    svg.lines(250, 508 - 17 * (len(encoder_notes) - 1), encoder_notes, 12, 17, anchor="end", fill=MUTED)

    # decoder: (h_t, z_t) -> x_hat_t, with z brought up on the right and bridged by the h rail
    dec_y, zline_x = 100, 651
    svg.line([(zx + 23, z_y), (zline_x, z_y)])
    svg.arrow([(zline_x, z_y), (756, z_y)])
    svg.junction(zline_x, z_y)
    svg.arrow([(zline_x, z_y), (zline_x, dec_y + 17), (px + 62, dec_y + 17)])
    svg.gap(zline_x, rail_y, vertical=True, background=PANEL.fill)
    svg.line([(hx + 35, rail_y), (zline_x + 8, rail_y)])
    svg.arrow([(zline_x + 8, rail_y), (756, rail_y)])
    svg.text(712, rail_y - 8, "*h*_{t}", 16)
    svg.text(712, z_y - 8, "*z*_{t}", 16)
    svg.trapezoid(px, dec_y, 150, 106, 34, CODEC, "CNN decoder", wide_on_top=True)
    svg.arrow([(px, rail_y), (px, dec_y + 34)])
    svg.text(px - 8, 160, f"[*h*_{{t}}, *z*_{{t}}]: {feat}", 12, "end", fill=SOFT)
    svg.frame(px - 26, 40, 52, (0.32, 0.66), [(0.6, 0.12, 0.28, 0.42)], blurred=True)
    svg.arrow([(px, dec_y), (px, 92)])
    svg.text(px + 34, 62, "*x̂*_{t}", 17, "start")
    svg.text(px + 34, 81, times(c.image_channels, c.image_size, c.image_size), 12, "start", fill=SOFT)
    up = [times(top_channels, side, side)] + [times(ch, s, s) for ch, s in reversed(enc[:-1])]
    up.append(times(c.image_channels, c.image_size, c.image_size))
    decoder_notes = [f"Linear {feat} → {times(top_channels, side, side)}", "4×4 transposed convs:"]
    decoder_notes += shape_chain(up[1:], first_prefix="→ ", max_width=170)
    svg.lines(460, 58, decoder_notes, 12, 17, anchor="end", fill=MUTED)

    # notes on the Gaussian heads and sampling, bottom right
    notes_x = 432
    svg.lines(
        notes_x,
        458,
        [
            f"each head: mean and std, {c.stoch_dim} each,",
            f"std = softplus(·) + {fmt(c.min_std)}",
            "*z*_{t} = mean + std · ε,  ε ∼ N(0, I)",
        ],
        12,
        17,
        anchor="start",
        fill=MUTED,
    )
    svg.arrow([(notes_x, 522), (notes_x + 30, 522)], PRIOR.stroke, 1.7, PRIOR_DASH)
    svg.text(notes_x + 38, 526, "imagining: *z*_{t} from the prior", 12, "start", fill=MUTED)
    return svg


# ----- 2. the time convention ----------------------------------------------------------------------

CONTEXT_BAND = Style("#eef7ef", "#cfe6d1")
OPEN_LOOP_BAND = Style("#fcf0f2", "#efd0d6")


def draw_time_alignment(K: int = 3, T: int = 6) -> Svg:
    """Frames, states and actions on one time axis: K context steps, then T-K open-loop steps."""
    svg = Svg(
        760,
        468,
        "The time convention: which action enters which step, in context and in open loop",
        f"Frames x_0 to x_{T - 1} on a time axis, with K = {K} context frames. Action a_t is chosen after frame t "
        "is seen and moves the dot from frame t to frame t+1, so it enters the GRU one step later: "
        "h_(t+1) = GRU(h_t, z_t, a_t). Step 0 starts from zeros (h, z and the previous action). In the context "
        f"steps t = 0 to {K - 1} the posterior sees each frame; in the open-loop steps t = {K} to {T - 1} only the "
        f"prior runs and the frames are predicted, not seen, while the actions are still given. a_{K - 1}, the last "
        f"context action, drives the first prediction, and the last action a_{T - 1} is never used.",
        "time",
    )
    col, first = 100, 150

    def cx(t: int) -> float:
        return first + col * t

    top, bottom = 6, 340
    k_x = cx(K) - col / 2
    svg.rect(cx(0) - col / 2, top, k_x - (cx(0) - col / 2), bottom - top, CONTEXT_BAND, rx=8, stroke_width=1)
    svg.rect(k_x, top, cx(T - 1) + col / 2 - k_x, bottom - top, OPEN_LOOP_BAND, rx=8, stroke_width=1)
    svg.text((cx(0) - col / 2 + k_x) / 2, 26, "context: *t* = 0 … *K*−1", 14, bold=True, fill=POSTERIOR.stroke)
    svg.text((cx(0) - col / 2 + k_x) / 2, 44, "frames seen; *z* from the posterior *q*", 12, fill=MUTED)
    svg.text((k_x + cx(T - 1) + col / 2) / 2, 26, "open loop: *t* = *K* … *T*−1", 14, bold=True, fill=PRIOR.stroke)
    svg.text((k_x + cx(T - 1) + col / 2) / 2, 44, "frames predicted; *z* from the prior *p*", 12, fill=MUTED)
    svg.line([(k_x, top), (k_x, bottom + 8)], MUTED, 1.4, "4 3")
    svg.text(k_x, bottom + 24, f"*K* = {K}", 13, bold=True, fill=MUTED)
    svg.text(cx(T - 1) + col / 2, bottom + 24, f"*T* = {T}", 13, "end", bold=True, fill=MUTED)

    frame_y, frame_size, z_y, h_y, h_h, a_y = 78, 52, 184, 230, 34, 296
    path = [(0.18, 0.62), (0.34, 0.5), (0.5, 0.4), (0.66, 0.33), (0.8, 0.3), (0.9, 0.34), (0.8, 0.42)]
    occluder = [(0.08, 0.08, 0.26, 0.22)]
    svg.text(50, 66, "start", 13, fill=MUTED)
    for t in range(T):
        x = cx(t)
        seen = t < K
        svg.text(x, 66, f"*t* = {t}", 13, fill=MUTED)
        svg.frame(
            x - frame_size / 2,
            frame_y,
            frame_size,
            path[t % len(path)],
            occluder,
            blurred=not seen,
            border=None if seen else PRIOR,
            dash=None if seen else "4 3",
        )
        svg.text(
            x + frame_size / 2 + 4,
            frame_y + 32,
            "*x*_{" + str(t) + "}" if seen else "*x̂*_{" + str(t) + "}",
            14,
            "start",
        )
        if seen:
            svg.arrow([(x, frame_y + frame_size), (x, z_y - 22)], POSTERIOR.stroke)
            svg.state_circle(x, z_y, 21, "*z*_{" + str(t) + "}", ring=POSTERIOR)
            svg.arrow([(x, h_y), (x, z_y + 21)])
        else:
            svg.arrow([(x, z_y - 21), (x, frame_y + frame_size)], PRIOR.stroke, 1.7, PRIOR_DASH)
            svg.state_circle(x, z_y, 21, "*z*_{" + str(t) + "}", ring=PRIOR, dash="5 3")
            svg.arrow([(x, h_y), (x, z_y + 21)], PRIOR.stroke, 1.7, PRIOR_DASH)
        svg.label_box(x - 29, h_y, 58, h_h, DETER, [("*h*_{" + str(t) + "}", 16, False, INK)], rx=3, stroke_width=2)
        last = t == T - 1
        chip = Style(EMBED.fill, FAINT) if last else EMBED
        svg.label_box(
            x - 23,
            a_y,
            46,
            26,
            chip,
            [("*a*_{" + str(t) + "}", 14, False, SOFT if last else INK)],
            rx=13,
            dash="4 3" if last else None,
        )
        if not last:
            svg.arrow([(x + 29, h_y + h_h / 2), (cx(t + 1) - 29, h_y + h_h / 2)])
            svg.arrow([(x + 15, z_y + 15), (cx(t + 1) - 24, h_y)])
            svg.arrow([(x + 18, a_y), (cx(t + 1) - 14, h_y + h_h)], DETER.stroke, 1.9)
        else:
            svg.arrow([(x + 18, a_y), (x + 46, h_y + h_h + 2)], FAINT, 1.7, "4 3")
            svg.lines(x + 60, h_y + 14, ["never", "used"], 12, 15, fill=SOFT)

    # what step 0 starts from
    x0 = cx(0)
    svg.text(48, z_y + 5, "*z* = 0", 13, fill=SOFT)
    svg.arrow([(66, z_y + 10), (x0 - 26, h_y)], FAINT)
    svg.text(48, h_y + h_h / 2 + 5, "*h* = 0", 13, fill=SOFT)
    svg.arrow([(72, h_y + h_h / 2), (x0 - 29, h_y + h_h / 2)], FAINT)
    svg.label_box(25, a_y, 46, 26, Style(EMBED.fill, FAINT), [("*a* = 0", 12, False, SOFT)], rx=13, dash="4 3")
    svg.arrow([(71, a_y + 6), (x0 - 14, h_y + h_h)], FAINT)

    svg.lines(
        380,
        384,
        [
            "*a*_{t} is chosen after frame *t* is seen and moves the dot from frame *t* to frame *t*+1,",
            (
                "so the GRU takes it one step later: *h*_{t+1} = GRU(*h*_{t}, *z*_{t}, *a*_{t}). "
                f"The last context action *a*_{{{K - 1}}} drives the first prediction."
            ),
            "In open loop the actions are still given: only the frames are withheld.",
        ],
        13,
        19,
    )
    legend_y = 454
    legend_arrow(svg, 40, legend_y, "frame seen by the posterior", POSTERIOR.stroke)
    legend_arrow(svg, 270, legend_y, "prior only: predicted, not seen", PRIOR.stroke, PRIOR_DASH)
    legend_arrow(svg, 540, legend_y, "action into the next step", DETER.stroke, width=1.9)
    return svg


# ----- 3. KL balancing -----------------------------------------------------------------------------


def density_plot(
    svg: Svg, x: float, y: float, w: float, h: float, mean: float, std: float, style: Style, label: str
) -> None:
    """A box with a Gaussian density (over z in [-3, 3]) and its name on top."""
    svg.rect(x, y, w, h, Style(WHITE, style.stroke), rx=6)
    svg.shape_boxes.append(Box(x, y, x + w, y + h, label))
    svg.text(x + w / 2, y + 19, label, 14)
    base, peak = y + h - 10, y + 30
    points = []
    for i in range(61):
        z = -3 + 6 * i / 60
        density = math.exp(-0.5 * ((z - mean) / std) ** 2)
        points.append((x + 12 + (w - 24) * i / 60, base - (base - peak) * density * min(1.0, 0.45 / std)))
    pts = " ".join(f"{num(px)},{num(py)}" for px, py in points)
    svg.add(f'<polygon points="{num(x + 12)},{num(base)} {pts} {num(x + w - 12)},{num(base)}" fill="{style.fill}"/>')
    svg.line(points, style.stroke, 2)
    svg.line([(x + 10, base), (x + w - 10, base)], FAINT, 1)


def stop_gradient_mark(svg: Svg, x: float, y: float) -> None:
    """Two slanted bars across a horizontal arrow, with 'sg' above: the gradient is cut here."""
    for dx in (-3, 3):
        svg.line([(x + dx - 4, y + 8), (x + dx + 4, y - 8)], ARROW, 2)
    svg.text(x, y - 12, "sg", 12, bold=True, fill=ARROW)


def draw_kl_balancing(t: TrainConfig | None = None) -> Svg:
    t = t or TrainConfig()
    b, fb = t.kl_balance, t.free_bits
    b_txt, rest_txt, fb_txt = fmt(b), fmt(1 - b), fmt(fb)
    per_step = t.free_bits_mode == "step"  # otherwise "batch": the batch mean is clamped (DreamerV2's free_avg)
    svg = Svg(
        760,
        486,
        f"KL balancing: two stop-gradient paths, weighted {b_txt} and {rest_txt}, with free bits",
        f"The KL loss is {b_txt} * max(KL(sg(q) || p), {fb_txt}) + {rest_txt} * max(KL(q || sg(p)), {fb_txt}), "
        "where sg is stop-gradient. Both terms have the value KL(q || p). In the first, q is cut off, so its "
        f"gradient (weight {b_txt}) reaches only the prior MLP; in the second, p is cut off, so its gradient "
        f"(weight {rest_txt}) reaches only the posterior MLP and, through it, the encoder. Free bits clamp each "
        f"term at {fb_txt} nat {'per step' if per_step else 'on the batch mean'}: below the floor the clamp is flat "
        "and no gradient flows.",
        "kl",
    )
    svg.text(
        380,
        30,
        f"loss_{{KL}} = <r>{b_txt}</r> · max(KL(sg(*q*) ‖ *p*), {fb_txt})"
        f" + <g>{rest_txt}</g> · max(KL(*q* ‖ sg(*p*)), {fb_txt})",
        15,
    )
    left, right, col_w = 25, 545, 190
    lc, rc = left + col_w / 2, right + col_w / 2
    enc_y, mlp_y, mlp_h, dist_y, dist_h = 66, 124, 50, 206, 96
    term_x, term_w = 290, 180
    p_term_y, q_term_y, term_h = 116, 226, 78
    live_y, cut_y = dist_y + 26, dist_y + 62  # where the arrows leave the distributions
    p_mid, q_mid = p_term_y + term_h / 2, cut_y

    # gradient bands first, under everything: width grows with the weight
    prior_band, post_band = 2 + 10 * b, 2 + 10 * (1 - b)
    band_opacity = 0.4
    if b > 0:
        svg.arrow(
            [(term_x + term_w, p_mid), (508, p_mid), (508, live_y), (rc + 60, live_y), (rc + 60, mlp_y + mlp_h)],
            PRIOR.stroke,
            prior_band,
            opacity=band_opacity,
        )
    if b < 1:
        svg.arrow(
            [(term_x, q_mid), (lc - 60, q_mid), (lc - 60, enc_y + 32)],
            POSTERIOR.stroke,
            post_band,
            opacity=band_opacity,
        )
    svg.text(rc + 60 + 12, mlp_y + mlp_h + 22, f"× {b_txt}", 12, "start", bold=True, fill=PRIOR.stroke)
    svg.text(lc - 60 + 10, enc_y + 50, f"× {rest_txt}", 12, "start", bold=True, fill=POSTERIOR.stroke)

    # the posterior side: encoder -> posterior MLP -> q
    svg.trapezoid(lc, enc_y, 150, 110, 32, CODEC, "CNN encoder", wide_on_top=True)
    svg.label_box(
        left,
        mlp_y,
        col_w,
        mlp_h,
        POSTERIOR,
        [("posterior MLP", 14, True, POSTERIOR.stroke), ("reads [*h*_{t}, *e*_{t}]", 12, False, INK)],
    )
    svg.arrow([(lc, enc_y + 32), (lc, mlp_y)])
    density_plot(svg, left, dist_y, col_w, dist_h, 0.6, 0.45, POSTERIOR, "*q*(*z*_{t} | *h*_{t}, *e*_{t})")
    svg.arrow([(lc, mlp_y + mlp_h), (lc, dist_y)])
    # the prior side: h_t -> prior MLP -> p
    svg.text(rc, enc_y + 20, "*h*_{t} from the GRU", 13)
    svg.arrow([(rc, enc_y + 28), (rc, mlp_y)])
    svg.label_box(
        right, mlp_y, col_w, mlp_h, PRIOR, [("prior MLP", 14, True, PRIOR.stroke), ("reads *h*_{t}", 12, False, INK)]
    )
    density_plot(svg, right, dist_y, col_w, dist_h, -0.2, 0.9, PRIOR, "*p*(*z*_{t} | *h*_{t})")
    svg.arrow([(rc, mlp_y + mlp_h), (rc, dist_y)])

    # the two terms
    svg.label_box(
        term_x,
        p_term_y,
        term_w,
        term_h,
        Style(WHITE, PRIOR.stroke),
        [
            ("KL(sg(*q*) ‖ *p*)", 15, True, INK),
            (f"clamp at {fb_txt} nat, × {b_txt}", 12, False, INK),
            ("gradient → prior only", 12, True, PRIOR.stroke),
        ],
        stroke_width=2,
    )
    svg.label_box(
        term_x,
        q_term_y,
        term_w,
        term_h,
        Style(WHITE, POSTERIOR.stroke),
        [
            ("KL(*q* ‖ sg(*p*))", 15, True, INK),
            (f"clamp at {fb_txt} nat, × {rest_txt}", 12, False, INK),
            ("gradient → posterior only", 12, True, POSTERIOR.stroke),
        ],
        stroke_width=2,
    )
    # forward arrows (values); the stop-gradient ones are cut
    svg.arrow([(left + col_w, q_mid), (term_x, q_mid)], ARROW, 1.4)
    svg.arrow([(left + col_w, live_y), (252, live_y), (252, p_mid), (term_x, p_mid)], ARROW, 1.4)
    stop_gradient_mark(svg, 271, p_mid)
    svg.arrow([(right, live_y), (508, live_y), (508, p_mid), (term_x + term_w, p_mid)], ARROW, 1.4)
    svg.arrow([(right, q_mid), (term_x + term_w, q_mid)], ARROW, 1.4)
    stop_gradient_mark(svg, 508, q_mid)

    # legend
    legend_y = 336
    svg.line([(40, legend_y - 4), (74, legend_y - 4)], ARROW, 1.4)
    svg.text(82, legend_y, "value (forward)", 12, "start")
    svg.line([(210, legend_y - 4), (244, legend_y - 4)], PRIOR.stroke, 9, opacity=band_opacity)
    svg.text(252, legend_y, "gradient (backward), width ∝ weight", 12, "start")
    stop_gradient_mark(svg, 528, legend_y - 4)
    svg.text(546, legend_y, "stop-gradient: value only", 12, "start")

    # free bits: the clamp and what it does
    unit = fb if fb > 0 else 1.0  # the plot spans 0 .. 3.3 free-bit floors
    ox, oy, sx, sy = 56, 452, 54 / unit, 28 / unit  # origin and user units per nat
    svg.rect(20, 354, 720, 124, NOTE, rx=8, stroke_width=1)
    svg.shape_boxes.append(Box(20, 354, 740, 478, "free-bits note"))
    svg.arrow([(ox, oy), (ox + 3.3 * unit * sx, oy)], SOFT, 1.2)
    svg.arrow([(ox, oy), (ox, oy - 3.3 * unit * sy)], SOFT, 1.2)
    svg.line([(ox, oy), (ox + fb * sx, oy - fb * sy)], FAINT, 1.2, "3 3")
    svg.line([(ox, oy - fb * sy), (ox + fb * sx, oy - fb * sy)], FAINT, 4, cap="round")
    svg.line([(ox + fb * sx, oy - fb * sy), (ox + 3 * unit * sx, oy - 3 * unit * sy)], ARROW, 2.2)
    svg.line([(ox + fb * sx, oy), (ox + fb * sx, oy + 4)], SOFT, 1.2)
    svg.text(ox + fb * sx, oy + 14, fb_txt, 11, fill=SOFT)
    svg.text(ox - 6, oy - fb * sy + 4, fb_txt, 11, "end", fill=SOFT)
    svg.text(ox + 3.3 * unit * sx + 6, oy + 4, "KL", 12, "start", fill=SOFT)
    svg.text(ox + 6, oy - 3.3 * unit * sy + 10, "term", 12, "start", fill=SOFT)
    svg.text(ox + fb * sx / 2 + 4, oy - fb * sy - 8, "flat", 12, fill=SOFT)
    notes = [
        f"<b>Free bits.</b> Each term is clamped per step, `kl.clamp(min={fb_txt})`:"
        if per_step
        else f"<b>Free bits.</b> Each batch mean is clamped, `kl.mean().clamp(min={fb_txt})`:",
        f"below {fb_txt} nat it is flat, so that {'step' if per_step else 'batch'} sends no gradient to either",
        f"network, and *z* may carry {fb_txt} nat per step for free.",
        "<b>Same value, different gradients.</b> Both terms equal KL(*q* ‖ *p*);",
        "they differ only in where their gradient goes" + (": the prior is pulled" if 0 < b < 1 else "."),
    ]
    if 0 < b < 1:
        notes.append(f"{fmt(b / (1 - b))}× as hard towards the posterior as the other way round.")
    svg.lines(282, 378, notes, 13, 18, anchor="start")
    return svg


# ----- 4. filtering as predict-then-correct ---------------------------------------------------------


@dataclass(frozen=True)
class FilterStep:
    """One step of the filtering sketch: where the dot is and how wide the beliefs are (in frame units)."""

    dot: Point
    prior_centre: Point
    prior_width: float
    post_width: float | None  # None: open loop, no correction
    visible: bool = True


def draw_filtering() -> Svg:
    steps = [
        FilterStep((0.1, 0.74), (0.5, 0.5), 0.62, 0.09),  # the first prediction, from zeros, knows nothing
        FilterStep((0.3, 0.62), (0.27, 0.66), 0.2, 0.08),
        FilterStep((0.5, 0.52), (0.48, 0.55), 0.18, 0.16, visible=False),  # behind the occluder
        FilterStep((0.72, 0.36), (0.68, 0.42), 0.26, 0.08),
        FilterStep((0.88, 0.25), (0.9, 0.27), 0.16, None),
        FilterStep((0.86, 0.14), (0.93, 0.16), 0.25, None),  # the dot bounced; the prediction drifts
        FilterStep((0.68, 0.1), (0.8, 0.12), 0.36, None),
    ]
    K = sum(step.post_width is not None for step in steps)
    hidden = [i for i, step in enumerate(steps) if not step.visible]
    svg = Svg(
        760,
        470,
        "Filtering as predict, then correct; open loop as predict only",
        f"A sketch over {len(steps)} frames. At each context frame the prior predicts z_t from h_t (a wide belief, "
        "dashed red), and the posterior corrects it with the frame's embedding e_t (a narrow belief, green); the "
        f"corrected sample feeds the next step. At t = {hidden[0]} the dot is behind the occluder: the frame says "
        "little about it, the correction is small and the belief stays wide. After the context, only the predict "
        "step runs and the belief widens with every step. The widths are illustrative, not measured.",
        "filter",
    )
    col, first, size = 94, 135, 78
    bar_base, bar_max, widest = 356, 84, 0.36

    def bar_height(width: float) -> float:
        return min(bar_max, bar_max * width / widest)

    def cx(t: int) -> float:
        return first + col * t

    top, bottom = 6, 372
    k_x = cx(K) - col / 2
    svg.rect(cx(0) - col / 2, top, k_x - cx(0) + col / 2, bottom - top, CONTEXT_BAND, rx=8, stroke_width=1)
    svg.rect(k_x, top, cx(len(steps) - 1) + col / 2 - k_x, bottom - top, OPEN_LOOP_BAND, rx=8, stroke_width=1)
    svg.text((cx(0) - col / 2 + k_x) / 2, 26, "filtering: predict, then correct", 14, bold=True, fill=POSTERIOR.stroke)
    svg.text((k_x + cx(len(steps) - 1) + col / 2) / 2, 26, "open loop: predict only", 14, bold=True, fill=PRIOR.stroke)

    frame_y, q_y, p_y, r = 60, 182, 238, 15
    svg.lines(8, frame_y + 30, ["frame and", "beliefs"], 12, 15, anchor="start", fill=MUTED)
    svg.lines(8, q_y - 2, ["<b>correct</b>", "*q*, sees *e*_{t}"], 12, 15, anchor="start", fill=POSTERIOR.stroke)
    svg.lines(8, p_y - 2, ["<b>predict</b>", "*p*, from *h*_{t}"], 12, 15, anchor="start", fill=PRIOR.stroke)
    svg.lines(8, bar_base - 52, ["belief", "width", "(sketch)"], 12, 15, anchor="start", fill=MUTED)
    occluder = (0.38, 0.4, 0.22, 0.3)
    for t, step in enumerate(steps):
        x, open_loop = cx(t), step.post_width is None
        fx = x - size / 2
        label = f"*t* = {t}" + ("  hidden" if not step.visible else "")
        svg.text(x, 50, label, 12 if not step.visible else 13, fill=MUTED, bold=not step.visible)
        # the frame, with the beliefs drawn over it (clipped to the frame)
        clip = f"{svg.prefix}-clip{t}"
        svg.defs.append(
            f'<clipPath id="{clip}"><rect x="{num(fx)}" y="{num(frame_y)}" width="{size}" height="{size}"/></clipPath>'
        )
        svg.frame(
            fx, frame_y, size, step.dot if step.visible else None, [occluder], dot_opacity=0.45 if open_loop else 1.0
        )
        pcx, pcy = fx + step.prior_centre[0] * size, frame_y + step.prior_centre[1] * size
        svg.add(
            f'<ellipse cx="{num(pcx)}" cy="{num(pcy)}" rx="{num(step.prior_width * size)}" '
            f'ry="{num(step.prior_width * size * 0.8)}" fill="{PRIOR.stroke}" fill-opacity="0.18" stroke="#ff8a98" '
            f'stroke-width="2" stroke-dasharray="5 3" clip-path="url(#{clip})"/>'
        )
        if step.post_width is not None:
            qcx = fx + (step.dot[0] if step.visible else step.prior_centre[0] + 0.01) * size
            qcy = frame_y + (step.dot[1] if step.visible else step.prior_centre[1]) * size
            svg.add(
                f'<ellipse cx="{num(qcx)}" cy="{num(qcy)}" rx="{num(step.post_width * size)}" '
                f'ry="{num(step.post_width * size * 0.8)}" fill="none" stroke="#7ee081" stroke-width="2.2" '
                f'clip-path="url(#{clip})"/>'
            )
        # predict -> correct chain
        if open_loop:
            svg.circle(x, p_y, r, PRIOR, 2, "4 3")
        else:
            svg.circle(x, p_y, r, PRIOR, 2)
            svg.circle(x, q_y, r, POSTERIOR, 2)
            svg.text(x, q_y + 5, "*q*", 15)
            svg.arrow([(x, p_y - r), (x, q_y + r)], ARROW, 1.6)
            if step.visible:
                svg.arrow([(x, frame_y + size), (x, q_y - r)], POSTERIOR.stroke, 1.8)
                svg.text(x + 5, frame_y + size + 21, "*e*_{" + str(t) + "}", 13, "start", fill=POSTERIOR.stroke)
            else:
                svg.arrow([(x, frame_y + size), (x, q_y - r)], FAINT, 1.6, "3 3")
                svg.text(x + 5, frame_y + size + 21, "no dot", 12, "start", fill=SOFT)
        svg.text(x, p_y + 5, "*p*", 15)
        if t + 1 < len(steps):
            if open_loop:
                svg.arrow([(x + r, p_y), (cx(t + 1) - r, p_y)], PRIOR.stroke, 1.7, PRIOR_DASH)
            else:
                svg.arrow([(x + r * 0.75, q_y + r * 0.7), (cx(t + 1) - r * 0.75, p_y - r * 0.7)], ARROW, 1.6)
        # belief widths as bars (the first prediction, from the zero state, runs off the top)
        bar_w = 16
        prior_h = bar_height(step.prior_width)
        svg.rect(x - bar_w - 2, bar_base - prior_h, bar_w, prior_h, PRIOR, rx=2, stroke_width=1.4, dash="4 2")
        if step.post_width is not None:
            post_h = bar_height(step.post_width)
            svg.rect(x + 2, bar_base - post_h, bar_w, post_h, POSTERIOR, rx=2, stroke_width=1.4)
    svg.line([(cx(0) - col / 2 + 8, bar_base), (cx(len(steps) - 1) + col / 2 - 8, bar_base)], SOFT, 1.2)
    hidden_top = bar_base - bar_height(steps[hidden[0]].prior_width)
    svg.lines(cx(hidden[0]), hidden_top - 24, ["barely", "corrected"], 12, 14, fill=MUTED)

    legend_y = 396
    svg.add(
        f'<ellipse cx="52" cy="{legend_y - 4}" rx="16" ry="9" fill="{PRIOR.stroke}" fill-opacity="0.18" '
        'stroke="#e06b7a" stroke-width="2" stroke-dasharray="5 3"/>'
    )
    svg.text(
        76, legend_y, "predicted belief p(*z*_{t} | *h*_{t}): the GRU's guess from the past and the action", 12, "start"
    )
    svg.add(f'<ellipse cx="52" cy="{legend_y + 18}" rx="10" ry="7" fill="none" stroke="#3da541" stroke-width="2.2"/>')
    svg.text(
        76,
        legend_y + 22,
        "corrected belief q(*z*_{t} | *h*_{t}, *e*_{t}): the guess after seeing the frame",
        12,
        "start",
    )
    svg.lines(
        380,
        legend_y + 50,
        [
            "Like a Kalman filter: predict with the dynamics, correct with the observation, repeat. A hidden",
            "frame carries no news about the dot, so the belief stays wide; open loop, it only widens.",
        ],
        12,
        16,
    )
    return svg


# ----- 5. one training step ------------------------------------------------------------------------


def schedule_plot(
    svg: Svg,
    x: float,
    y: float,
    w: float,
    h: float,
    values: Sequence[float],
    steps: Sequence[int],
    title: str,
    colour: str,
    log: bool,
    ticks: Sequence[int],
    value_labels: Sequence[tuple[float, str]],
) -> None:
    """A small line plot of a schedule over training steps (a log y axis if ``log``)."""
    svg.text(x, y - 8, title, 13, "start", bold=True)
    lo, hi = min(values), max(values)
    transform = (lambda v: math.log(v)) if log else (lambda v: v)
    t_lo, t_hi = transform(lo) if lo > 0 or not log else 0.0, transform(hi)
    t_lo = min(t_lo, 0.0) if not log else t_lo
    span = (t_hi - t_lo) or 1.0
    last = steps[-1]

    def px(step: float) -> float:
        return x + w * step / last

    def py(value: float) -> float:
        return y + h - h * (transform(value) - t_lo) / span

    svg.line([(x, y), (x, y + h), (x + w, y + h)], SOFT, 1.2)
    svg.line([(px(s), py(v)) for s, v in zip(steps, values)], colour, 2.2)
    for tick in ticks:
        svg.line([(px(tick), y + h), (px(tick), y + h + 4)], SOFT, 1.2)
        svg.text(px(tick), y + h + 16, f"{tick:,}", 11, fill=SOFT)
    for value, label in value_labels:
        svg.text(x - 5, py(value) + 4, label, 11, "end", fill=SOFT)
    svg.text(x + w, y + h + 30, "step", 11, "end", fill=SOFT)


def draw_training_step(t: TrainConfig | None = None, d: MovingDotConfig | None = None) -> Svg:
    d = d or MovingDotConfig()
    t = (t or TrainConfig()).for_world(d)
    window = min(t.chunk_len or d.seq_len, d.seq_len)
    steps_per_epoch = t.train_sequences // t.batch_size
    total = t.epochs * steps_per_epoch
    svg = Svg(
        760,
        478,
        "One training step, from a batch of sequences to the Adam update",
        f"A batch of {t.batch_size} sequences of {d.seq_len} frames is cropped to a random window of {window} frames "
        "per sequence. model.observe filters each window with the posterior and decodes every frame. The loss is the "
        f"reconstruction error (squared error summed over pixels, the dot's pixels weighted up by a dot weight that "
        f"starts at {fmt(t.dot_weight)} and decays geometrically to {fmt(t.dot_weight_final)} between steps "
        f"{t.dot_weight_decay_start} and {t.dot_weight_decay_end}) plus beta = {fmt(t.beta)} times the balanced KL "
        f"(balance {fmt(t.kl_balance)}, free bits {fmt(t.free_bits)} nat). Backward, clip the gradient norm at "
        f"{fmt(t.grad_clip)}, then an Adam step with a {t.warmup_steps}-step warm-up and a cosine decay of the "
        f"learning rate from {fmt(t.lr)} to {fmt(t.lr * t.lr_final)}.",
        "train",
    )
    # 1-2: the batch and its random windows
    svg.text(20, 24, f"<b>1</b>  batch: {t.batch_size} sequences × {d.seq_len} frames", 13, "start")
    strips, strip_x, strip_w, strip_y, strip_h = 8, 24, 320, 38, 11
    starts = [5, 28, 14, 31, 0, 20, 9, 25]  # a fixed illustration of random window starts
    cell = strip_w / d.seq_len
    for i in range(strips):
        y = strip_y + i * (strip_h + 4)
        svg.rect(strip_x, y, strip_w, strip_h, Style("#e4e7ec", "#c3c8d0"), rx=2, stroke_width=1)
        start = starts[i % len(starts)] * (d.seq_len - window) // 32
        svg.rect(
            strip_x + start * cell, y, window * cell, strip_h, Style("#9fc0e8", DETER.stroke), rx=2, stroke_width=1.2
        )
    svg.text(strip_x + strip_w + 6, strip_y + 3 * (strip_h + 4) + 9, "⋮", 14, "start", fill=SOFT)
    below = strip_y + strips * (strip_h + 4) + 14
    svg.text(20, below, f"<b>2</b>  a random window of {window} frames in each (`chunk_len`)", 13, "start")

    # 3: the model filters the windows
    model_x, model_y, model_w, model_h = 20, below + 24, 330, 88
    svg.label_box(
        model_x,
        model_y,
        model_w,
        model_h,
        DETER,
        [
            ("<b>3</b>  `model.observe(obs, actions)`", 13, False, INK),
            (f"{t.batch_size} windows × {window} frames of {times(1, d.grid_size, d.grid_size)}", 12, False, INK),
            ("encoder → GRU → posterior, every frame", 12, False, INK),
            ("*z*_{t} ∼ *q*, then decode (*h*_{t}, *z*_{t}) → *x̂*_{t}", 12, False, INK),
        ],
    )
    svg.arrow([(model_x + model_w / 2, below + 6), (model_x + model_w / 2, model_y)])

    # 4: the two losses, 5: their sum
    right_x, right_w = 400, 340
    rec_w = 184
    rec_y, rec_h = 40, 118
    svg.label_box(
        right_x,
        rec_y,
        rec_w,
        rec_h,
        CODEC,
        [
            ("<b>4</b>  reconstruction", 13, False, CODEC.stroke),
            ("∑ over pixels of", 12, False, INK),
            ("(*x̂* − *x*)² · (1 + *w* · fg)", 13, False, INK),
            ("*w*: dot weight, fg: moving", 12, False, INK),
            ("pixels (plot below)", 12, False, INK),
        ],
    )
    kl_x = right_x + rec_w + 12
    svg.label_box(
        kl_x,
        rec_y,
        right_w - rec_w - 12,
        rec_h,
        Style(PRIOR.fill, PRIOR.stroke),
        [
            ("<b>4</b>  β · balanced KL", 13, False, PRIOR.stroke),
            (f"β = {fmt(t.beta)}", 12, False, INK),
            (f"balance {fmt(t.kl_balance)}", 12, False, INK),
            (f"free bits {fmt(t.free_bits)} nat", 12, False, INK),
            ("per step" if t.free_bits_mode == "step" else "on the batch mean", 12, False, INK),
        ],
    )
    trunk_x = 375
    svg.line(
        [
            (model_x + model_w, model_y + 30),
            (trunk_x, model_y + 30),
            (trunk_x, 16),
            (kl_x + (right_w - rec_w - 12) / 2, 16),
        ]
    )
    svg.arrow([(kl_x + (right_w - rec_w - 12) / 2, 16), (kl_x + (right_w - rec_w - 12) / 2, rec_y)])
    svg.arrow([(trunk_x, rec_y + rec_h / 2), (right_x, rec_y + rec_h / 2)])
    svg.junction(trunk_x, rec_y + rec_h / 2)
    svg.text(trunk_x - 6, 12 + 16, "*q*, *p*", 12, "end", fill=SOFT)
    loss_y = rec_y + rec_h + 26
    svg.label_box(
        right_x,
        loss_y,
        right_w,
        34,
        Style(WHITE, ARROW),
        [("<b>5</b>  loss = reconstruction + β · KL  (nats per frame)", 13, False, INK)],
    )
    svg.arrow([(right_x + rec_w / 2, rec_y + rec_h), (right_x + rec_w / 2, loss_y)])
    svg.arrow([(kl_x + (right_w - rec_w - 12) / 2, rec_y + rec_h), (kl_x + (right_w - rec_w - 12) / 2, loss_y)])

    # 6-8: backward, clip, Adam (right to left), and the update back into the model
    opt_y, opt_h = loss_y + 62, 50
    box_w, gap = 104, 14
    adam_x, clip_x, back_x = right_x, right_x + box_w + gap, right_x + 2 * (box_w + gap)
    svg.label_box(
        back_x,
        opt_y,
        right_w - 2 * (box_w + gap),
        opt_h,
        EMBED,
        [("<b>6</b>  backward", 13, False, INK), ("∇ of the loss", 12, False, INK)],
    )
    svg.label_box(
        clip_x,
        opt_y,
        box_w,
        opt_h,
        EMBED,
        [("<b>7</b>  clip", 13, False, INK), (f"‖∇‖ ≤ {fmt(t.grad_clip)}", 12, False, INK)],
    )
    svg.label_box(
        adam_x, opt_y, box_w, opt_h, EMBED, [("<b>8</b>  Adam", 13, False, INK), ("lr (plot below)", 12, False, INK)]
    )
    back_c = back_x + (right_w - 2 * (box_w + gap)) / 2
    svg.arrow([(back_c, loss_y + 34), (back_c, opt_y)])
    svg.arrow([(back_x, opt_y + opt_h / 2), (clip_x + box_w, opt_y + opt_h / 2)])
    svg.arrow([(clip_x, opt_y + opt_h / 2), (adam_x + box_w, opt_y + opt_h / 2)])
    if not model_y + 10 < opt_y + opt_h / 2 < model_y + model_h - 10:
        svg.layout_problems.append("train: the update arrow misses the model box")
    svg.arrow([(adam_x, opt_y + opt_h / 2), (model_x + model_w, opt_y + opt_h / 2)])
    svg.text(trunk_x, opt_y + opt_h / 2 - 8, "update", 12, fill=SOFT)

    # schedules, computed with the training code's own functions
    plot_y, plot_h, plot_w = 352, 64, 280
    sample = sorted(
        {round(total * i / 240) for i in range(241)}
        | {t.warmup_steps, t.dot_weight_decay_start, t.dot_weight_decay_end}
    )
    sample = [s for s in sample if s <= total]
    weights = [dot_weight_at(s, t) for s in sample]
    rates = [learning_rate_at(s, s / total, t) for s in sample]
    w_log = min(weights) > 0
    schedule_plot(
        svg,
        70,
        plot_y,
        plot_w,
        plot_h,
        weights,
        sample,
        "dot weight *w*" + (" (log scale)" if w_log else ""),
        CODEC.stroke,
        w_log,
        [t.dot_weight_decay_start, t.dot_weight_decay_end, total],
        [(max(weights), fmt(max(weights))), (min(weights), fmt(min(weights)))],
    )
    schedule_plot(
        svg,
        450,
        plot_y,
        plot_w,
        plot_h,
        rates,
        sample,
        "learning rate",
        DETER.stroke,
        False,
        [t.warmup_steps, total],
        [(t.lr, fmt(t.lr)), (t.lr * t.lr_final, fmt(t.lr * t.lr_final))],
    )
    svg.text(70 + plot_w * t.dot_weight_decay_end / total + 8, plot_y + 24, "geometric decay", 11, "start", fill=SOFT)
    svg.text(
        380,
        plot_y + plot_h + 52,
        f"{t.epochs} epochs × {steps_per_epoch} steps ({t.train_sequences:,} sequences / {t.batch_size}) = "
        f"{total:,} steps; the cosine spans the whole run",
        12,
        fill=MUTED,
    )
    svg.text(
        450 + plot_w * t.warmup_steps / total + 10, plot_y + plot_h - 10, "warm-up, then cosine", 11, "start", fill=SOFT
    )
    return svg


# ----- 6. the encoder's and decoder's shapes --------------------------------------------------------


def feature_maps(svg: Svg, cx: float, cy: float, channels: int, side: int, scale: float) -> float:
    """A stack of squares for a (channels, side, side) tensor: one layer per doubling of the channels.

    Returns the half-width of the drawing, for placing arrows next to it.
    """
    layers = 1 + max(0, round(math.log2(channels)))
    face, step = max(8.0, side * scale), 4.0
    depth = (layers - 1) * step
    x0, y0 = cx - (face + depth) / 2, cy - (face - depth) / 2
    for i in reversed(range(layers)):
        svg.rect(x0 + i * step, y0 - i * step, face, face, CODEC, rx=1, stroke_width=1.2)
    return (face + depth) / 2


def vector_bar(svg: Svg, cx: float, cy: float, length: float, style: Style) -> None:
    svg.rect(cx - 7, cy - length / 2, 14, length, style, rx=2, stroke_width=1.4)


def draw_encoder_decoder(c: RSSMConfig | None = None) -> Svg:
    c = c or RSSMConfig()
    enc = encoder_shapes(c)
    top_channels, side = enc[-1]
    flat = top_channels * side * side
    feat = c.deter_dim + c.stoch_dim
    image = times(c.image_channels, c.image_size, c.image_size)
    svg = Svg(
        760,
        416,
        "Tensor shapes through the CNN encoder and decoder",
        f"The encoder turns a {image} frame into the embedding e_t: {c.cnn_layers} convolutions with 4x4 kernels and "
        f"stride 2, each followed by SiLU, give "
        + ", ".join(times(ch, s, s) for ch, s in enc)
        + f"; the result is flattened to {flat} numbers and a Linear layer with SiLU gives {c.embed_dim}. The decoder "
        f"mirrors it: [h_t, z_t] ({c.deter_dim} + {c.stoch_dim} = {feat}) goes through a Linear layer with SiLU to "
        f"{flat} numbers, is reshaped to {times(top_channels, side, side)}, and {c.cnn_layers} transposed "
        f"convolutions bring it back to {image}. The last one has no activation: the output is the mean of a "
        "Gaussian over pixels, not squashed by a sigmoid.",
        "codec",
    )
    scale = 64 / c.image_size  # the frame is drawn 64 units wide
    margin = 64
    n = c.cnn_layers + 3
    xs = [margin + i * (760 - 2 * margin) / (n - 1) for i in range(n)]

    def vec(dim: int) -> float:
        """A bar's length for a vector of ``dim`` numbers."""
        return min(90.0, 4 * math.sqrt(dim))

    def stage_label(x: float, y: float, lines: Sequence[str]) -> None:
        svg.lines(x, y, lines, 12, 17, fill=MUTED)

    def link(x_from: float, x_to: float, y: float, label: str) -> None:
        svg.arrow([(x_from + 6, y), (x_to - 6, y)], ARROW, 1.5)
        svg.text((x_from + x_to) / 2, y - 10, label, 11, fill=SOFT)

    # encoder, left to right
    ey, label_dy = 106, 62
    svg.text(20, 26, "<b>CNN encoder</b>  frame → embedding *e*_{t}", 14, "start", fill=CODEC.stroke)
    svg.text(740, 26, "shapes: channels × height × width", 12, "end", fill=MUTED)
    svg.frame(xs[0] - 32, ey - 32, 64, (0.3, 0.66), [(0.6, 0.12, 0.28, 0.42)])
    stage_label(xs[0], ey + label_dy, ["*x*_{t}", image])
    right_edge = xs[0] + 32
    for i, (ch, s) in enumerate(enc):
        half = feature_maps(svg, xs[i + 1], ey, ch, s, scale)
        link(right_edge, xs[i + 1] - half, ey, "conv")
        stage_label(xs[i + 1], ey + label_dy, [times(ch, s, s)])
        right_edge = xs[i + 1] + half
    vector_bar(svg, xs[-2], ey, vec(flat), EMBED)
    link(right_edge, xs[-2] - 7, ey, "flatten")
    stage_label(xs[-2], ey + label_dy, [str(flat)])
    vector_bar(svg, xs[-1], ey, vec(c.embed_dim), EMBED)
    link(xs[-2] + 7, xs[-1] - 7, ey, "Linear+SiLU")
    stage_label(xs[-1], ey + label_dy, ["*e*_{t}", str(c.embed_dim)])
    svg.text(
        380,
        ey + label_dy + 40,
        "4×4 convolutions with stride 2 and SiLU: each halves the side and doubles the channels",
        12,
        fill=MUTED,
    )

    # decoder, left to right as well: from the state to the frame
    dy = 304
    svg.line([(20, 226), (740, 226)], "#d5d9e0", 1)
    svg.text(20, 254, "<b>CNN decoder</b>  state (*h*_{t}, *z*_{t}) → frame *x̂*_{t}", 14, "start", fill=CODEC.stroke)
    h_len, z_len = vec(feat) * c.deter_dim / feat, vec(feat) * c.stoch_dim / feat
    top = dy - (h_len + z_len) / 2
    svg.rect(xs[0] - 7, top, 14, h_len, DETER, rx=2, stroke_width=1.4)
    svg.rect(xs[0] - 7, top + h_len, 14, z_len, STOCH, rx=2, stroke_width=1.4)
    stage_label(xs[0], dy + label_dy, ["[*h*_{t}, *z*_{t}]", f"{c.deter_dim} + {c.stoch_dim}"])
    vector_bar(svg, xs[1], dy, vec(flat), EMBED)
    link(xs[0] + 7, xs[1] - 7, dy, "Linear+SiLU")
    stage_label(xs[1], dy + label_dy, [str(flat)])
    maps = [(top_channels, side)] + [(ch, s) for ch, s in reversed(enc[:-1])]
    left_edge = xs[1] + 7
    for i, (ch, s) in enumerate(maps):
        half = feature_maps(svg, xs[i + 2], dy, ch, s, scale)
        link(left_edge, xs[i + 2] - half, dy, "reshape" if i == 0 else "deconv")
        stage_label(xs[i + 2], dy + label_dy, [times(ch, s, s)])
        left_edge = xs[i + 2] + half
    svg.frame(xs[-1] - 32, dy - 32, 64, (0.32, 0.66), [(0.6, 0.12, 0.28, 0.42)], blurred=True)
    link(left_edge, xs[-1] - 32, dy, "deconv")
    stage_label(xs[-1], dy + label_dy, ["*x̂*_{t}", image])
    svg.text(
        380,
        dy + label_dy + 40,
        "transposed 4×4 convolutions, stride 2; the last has no activation (a linear output, no sigmoid)",
        12,
        fill=MUTED,
    )
    return svg


# ----- writing ---------------------------------------------------------------------------------------

DIAGRAMS: dict[str, Callable[[], Svg]] = {  # in the order of the chapters that use them
    "time_alignment.svg": draw_time_alignment,
    "encoder_decoder.svg": draw_encoder_decoder,
    "rssm_cell.svg": draw_rssm_cell,
    "kl_balancing.svg": draw_kl_balancing,
    "training_step.svg": draw_training_step,
    "filtering.svg": draw_filtering,
}


def write_diagrams(out_dir: Path, names: Iterable[str] | None = None) -> list[Path]:
    """Draw the diagrams into ``out_dir`` and return the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name in names or DIAGRAMS:
        svg = DIAGRAMS[name]()
        for problem in svg.check_layout():
            print(f"layout: {problem}", file=sys.stderr)
        path = out_dir / name
        path.write_text(svg.render(), encoding="utf-8", newline="\n")
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help=f"folder for the SVG files (default {DEFAULT_OUT})"
    )
    parser.add_argument(
        "names", nargs="*", metavar="NAME", help=f"only these diagrams (default: all of {', '.join(DIAGRAMS)})"
    )
    args = parser.parse_args(argv)
    unknown = [name for name in args.names if name not in DIAGRAMS]
    if unknown:
        parser.error(f"unknown diagram(s) {', '.join(unknown)}; choose from {', '.join(DIAGRAMS)}")
    for path in write_diagrams(args.out, args.names or None):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
