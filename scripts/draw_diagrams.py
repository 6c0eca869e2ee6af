"""Draw the book's diagrams: fill the SVG templates in ``scripts/diagrams/`` with the package's defaults.

Run from the repository root::

    .venv/bin/python scripts/draw_diagrams.py            # writes book/images/*.svg
    .venv/bin/python scripts/draw_diagrams.py --out DIR  # writes them somewhere else

Each diagram is drawn by hand as ``scripts/diagrams/<name>.svg`` (the colours are the classes of
``_style.svg``). Its numbers from the defaults are placeholders in Python's format syntax:

- ``{model.deter_dim}``, ``{train.batch_size}``, ``{world.seq_len}``: a field of ``RSSMConfig()``,
  ``TrainConfig()`` (with the world's settings filled in, ``for_world``) or ``MovingDotConfig()``;
  a float takes ``:g`` (``{train.kl_balance:g}`` is 0.8), a step count ``:,`` (2,560);
- ``{gru_in}``, ``{enc1}``, ...: a number worked out from them, in :func:`numbers`;
- ``{style}``: the shared palette, arrowheads and dot gradients of ``_style.svg``.

So re-running the script keeps the pictures true when the defaults change, and a new diagram is a
new template: draw it, name its placeholders, run this script, look at ``book/images/<name>.svg``.
A default that a picture cannot follow (a fourth conv layer, free bits off) stops the script with a
message naming the template to redraw. The output is deterministic, and ``tests/test_diagrams.py``
checks that the committed files are up to date, so edit the templates, never ``book/images/``.

:func:`layout_problems` lists labels that overlap, leave the canvas or cross the edge of a box
(a ``rect`` of class ``box``), measured with the DejaVu Sans bundled with matplotlib (the widest
font of the stack); the tests fail on any.
"""

from __future__ import annotations

import argparse
import functools
import math
import re
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from pathlib import Path

import matplotlib
from matplotlib import ft2font

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from a checkout without installing the package
    sys.path.insert(0, str(ROOT))

from rssm.behavior import BehaviorConfig
from rssm.dataset import MovingDotConfig
from rssm.losses import dot_weight_at
from rssm.model import RSSMConfig
from rssm.train import TrainConfig, learning_rate_at

TEMPLATES = ROOT / "scripts" / "diagrams"
DEFAULT_OUT = ROOT / "book" / "images"
DIAGRAMS = sorted(p.name for p in TEMPLATES.glob("*.svg") if not p.name.startswith("_"))
STYLE = re.search(r"<style>.*</defs>", (TEMPLATES / "_style.svg").read_text(encoding="utf-8"), re.DOTALL)[0]

FREE_BITS = {  # how each free_bits_mode reads in kl_balancing.svg and training_step.svg
    "step": {
        "free_bits_where": "per step",
        "free_bits_what": "Each term is clamped per step",
        "free_bits_call": "kl",
        "free_bits_unit": "step",
    },
    "batch": {
        "free_bits_where": "on the batch mean",
        "free_bits_what": "Each batch mean is clamped",
        "free_bits_call": "kl.mean()",
        "free_bits_unit": "batch",
    },
}
PLOT_W, PLOT_H = 280, 64  # the schedule plots' axes in training_step.svg
STRIP_W = 320  # a sequence's strip in training_step.svg
WINDOW_STARTS = [5, 28, 14, 31, 0, 20, 9, 25]  # a fixed picture of random window starts, in 32nds of the free room


def num(value: float) -> str:
    """A coordinate: rounded to 0.1, without a trailing .0."""
    text = f"{round(value, 1):.1f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def times(*sizes: int) -> str:
    """A tensor shape as 1×32×32."""
    return "×".join(str(s) for s in sizes)


def require(ok: bool, template: str, why: str) -> None:
    if not ok:
        raise ValueError(f"scripts/diagrams/{template} {why}: redraw the template for the new defaults")


def numbers(
    model: RSSMConfig | None = None, train: TrainConfig | None = None, world: MovingDotConfig | None = None
) -> dict[str, object]:
    """Every placeholder's value: the three configs (defaults if None) and the numbers worked out from them."""
    c, d = model or RSSMConfig(), world or MovingDotConfig()
    t = (train or TrainConfig()).for_world(d)
    require(c.cnn_layers == 3, "rssm_cell.svg and encoder_decoder.svg", f"draw 3 conv layers, not {c.cnn_layers}")
    require(0 < t.kl_balance < 1, "kl_balancing.svg", f"draws two gradient paths, not kl_balance={t.kl_balance}")
    require(t.free_bits > 0, "kl_balancing.svg", "draws the free-bits clamp, but free_bits=0")
    require(min(t.dot_weight, t.dot_weight_final) > 0, "training_step.svg", "plots the dot weight on a log scale")
    maps = [(c.cnn_depth * 2**i, c.image_size // 2 ** (i + 1)) for i in range(c.cnn_layers)]
    window = min(t.chunk_len or d.seq_len, d.seq_len)
    total = t.epochs * (t.train_sequences // t.batch_size)
    lr_end = float(f"{t.lr * t.lr_final:.1g}")  # the floor to one digit, as a label (9.9e-05 reads 0.0001)
    return {
        "style": STYLE,
        "model": c,
        "train": t,
        "world": d,
        "behavior": BehaviorConfig(),  # lambda_return.svg
        # rssm_cell.svg, encoder_decoder.svg
        "gru_in": c.stoch_dim + c.action_dim,
        "post_in": c.deter_dim + c.embed_dim,
        "feat": c.deter_dim + c.stoch_dim,
        "heads": 2 * c.stoch_dim,
        "image": times(c.image_channels, c.image_size, c.image_size),
        **{f"enc{i + 1}": times(ch, side, side) for i, (ch, side) in enumerate(maps)},
        "flat": maps[-1][0] * maps[-1][1] ** 2,
        "gru_note": "with LayerNorm" if c.gru_layer_norm else "nn.GRUCell",
        "gru_kind": "LayerNorm GRU" if c.gru_layer_norm else "GRU (nn.GRUCell)",
        # kl_balancing.svg: the gradient bands are as wide as their weights
        "kl_rest": round(1 - t.kl_balance, 9),
        "kl_ratio": round(t.kl_balance / (1 - t.kl_balance), 9),
        "prior_band": num(2 + 10 * t.kl_balance),
        "post_band": num(2 + 10 * (1 - t.kl_balance)),
        **FREE_BITS[t.free_bits_mode],
        # training_step.svg
        "window": window,
        "frame": times(1, d.grid_size, d.grid_size),
        "steps_per_epoch": t.train_sequences // t.batch_size,
        "total_steps": total,
        "lr_end": lr_end,
        "batch_windows": batch_windows(window, d.seq_len),
        "dot_weight_plot": schedule_plot(
            lambda s: dot_weight_at(s, t),
            total,
            [(t.dot_weight_decay_start, "end"), (t.dot_weight_decay_end, "start"), (total, "middle")],
            [t.dot_weight, t.dot_weight_final],
            "line-codec",
            log=True,
        ),
        "lr_plot": schedule_plot(
            lambda s: learning_rate_at(s, s / total, t),
            total,
            [(t.warmup_steps, "middle"), (total, "middle")],
            [t.lr, lr_end],
            "line-deter",
            log=False,
        ),
    }


def batch_windows(window: int, seq_len: int) -> str:
    """Eight sequences as grey strips, each with a random window of ``window`` frames in blue."""
    cell, rows = STRIP_W / seq_len, []
    for i, start in enumerate(WINDOW_STARTS):
        x = start * (seq_len - window) // 32 * cell
        rows.append(
            f'<rect class="strip" x="0" y="{15 * i}" width="{STRIP_W}" height="11" rx="2" stroke-width="1"/>'
            f'<rect class="window" x="{num(x)}" y="{15 * i}" width="{num(window * cell)}" height="11" rx="2" '
            'stroke-width="1.2"/>'
        )
    return "\n".join(rows)


def schedule_plot(
    schedule: Callable[[int], float], total: int, ticks: list[tuple[int, str]], marks: list[float], line: str, log: bool
) -> str:
    """A schedule over ``total`` steps drawn into a PLOT_W x PLOT_H plot whose axes' corner is at (0, 0):
    its curve (of class ``line``, on a log scale if ``log``), the steps of ``ticks`` (step, text-anchor)
    under the x axis and the values of ``marks`` beside the y axis."""
    steps = sorted({round(total * i / 240) for i in range(241)} | {s for s, _ in ticks if s <= total})
    values = [schedule(s) for s in steps]
    scale = math.log if log else float
    low = scale(min(values)) if log else min(0.0, *values)
    span = (scale(max(values)) - low) or 1.0

    def y(value: float) -> float:
        return PLOT_H - PLOT_H * (scale(value) - low) / span

    points = " ".join(f"{num(PLOT_W * s / total)},{num(y(v))}" for s, v in zip(steps, values))
    parts = [f'<polyline class="{line}" points="{points}" stroke-width="2.2"/>']
    for step, anchor in ticks:
        x = num(PLOT_W * step / total)
        parts.append(f'<path class="line-soft" d="M{x},{PLOT_H} v4" stroke-width="1.2"/>')
        parts.append(
            f'<text x="{x}" y="{PLOT_H + 16}" font-size="11" text-anchor="{anchor}" class="soft">{step:,}</text>'
        )
    for value in marks:
        parts.append(
            f'<text x="-5" y="{num(y(value) + 4)}" font-size="11" text-anchor="end" class="soft">{round(value, 9):g}</text>'
        )
    return "\n".join(parts)


def draw(
    name: str, model: RSSMConfig | None = None, train: TrainConfig | None = None, world: MovingDotConfig | None = None
) -> str:
    """The diagram ``name`` (a file in scripts/diagrams/) for these configs (defaults if None), as SVG text."""
    template = (TEMPLATES / name).read_text(encoding="utf-8")
    try:
        return template.format_map(numbers(model, train, world))
    except (KeyError, AttributeError, IndexError) as error:
        raise ValueError(f"scripts/diagrams/{name}: {error!r} is neither a config field nor in numbers()") from error


# ----- the layout check ---------------------------------------------------------------------------------

SVG = "{http://www.w3.org/2000/svg}"
TEXT_ATTRIBUTES = ("font-size", "font-weight", "font-family", "text-anchor")
FONTS = Path(matplotlib.get_data_path()) / "fonts" / "ttf"


@functools.cache
def font(bold: bool, mono: bool) -> ft2font.FT2Font:
    face = ft2font.FT2Font(str(FONTS / f"DejaVuSans{'Mono' if mono else ''}{'-Bold' if bold else ''}.ttf"))
    face.set_size(100, 72)  # 100 px to the em
    return face


@functools.cache
def advance(char: str, bold: bool, mono: bool) -> float:
    """How far a character moves the pen, in em, in DejaVu Sans (Mono) as matplotlib bundles it."""
    glyph = font(bold, mono).load_char(ord(char), flags=ft2font.LoadFlags.NO_HINTING)
    return glyph.linearHoriAdvance / 65536 / 100


def text_box(element: ET.Element, style: dict[str, str], x0: float, y0: float) -> tuple[float, float, float, float]:
    """The bounding box (left, top, right, bottom) of a <text>, tspans and their dy shifts included."""
    right, top, bottom, shift = 0.0, math.inf, -math.inf, 0.0

    def add(text: str | None, style: dict[str, str]) -> None:
        nonlocal right, top, bottom
        size = float(style.get("font-size", 16))  # 16: the SVG default
        bold, mono = style.get("font-weight") == "bold", "Mono" in style.get("font-family", "")
        right += sum(advance(ch, bold, mono) for ch in text or "") * size  # the templates keep xml:space="preserve"
        top, bottom = min(top, shift - 0.76 * size), max(bottom, shift + 0.24 * size)

    def walk(node: ET.Element, style: dict[str, str]) -> None:
        nonlocal shift
        style = style | {k: node.attrib[k] for k in TEXT_ATTRIBUTES if k in node.attrib}
        shift += float(node.get("dy", 0))
        add(node.text, style)
        for child in node:
            walk(child, style)
            add(child.tail, style)

    walk(element, style)
    x, y = x0 + float(element.get("x", 0)), y0 + float(element.get("y", 0))
    x -= {"start": 0, "middle": right / 2, "end": right}[style.get("text-anchor", "start")]
    return (x, y + top, x + right, y + bottom)


def overlap(a: tuple[float, ...], b: tuple[float, ...], margin: float) -> bool:
    return a[0] < b[2] - margin and b[0] < a[2] - margin and a[1] < b[3] - margin and b[1] < a[3] - margin


def layout_problems(svg: str) -> list[str]:
    """Labels that leave the canvas, overlap another label or cross the edge of a box; boxes that overlap."""
    root = ET.fromstring(svg)
    width, height = (float(v) for v in root.attrib["viewBox"].split()[2:])
    labels: list[tuple[str, tuple[float, ...]]] = []
    boxes: list[tuple[float, ...]] = []

    def walk(node: ET.Element, style: dict[str, str], dx: float, dy: float) -> None:
        style = style | {k: node.attrib[k] for k in TEXT_ATTRIBUTES if k in node.attrib}
        if "transform" in node.attrib:
            move = re.fullmatch(r"translate\(([-\d.]+)[ ,]+([-\d.]+)\)", node.attrib["transform"])
            if not move:
                raise ValueError(f"the layout check follows translate(x y) only, not {node.attrib['transform']!r}")
            dx, dy = dx + float(move[1]), dy + float(move[2])
        if node.tag == SVG + "text":
            labels.append(("".join(node.itertext()), text_box(node, style, dx, dy)))
        elif node.tag == SVG + "rect" and "box" in node.get("class", "").split():
            x, y = dx + float(node.get("x", 0)), dy + float(node.get("y", 0))
            boxes.append((x, y, x + float(node.attrib["width"]), y + float(node.attrib["height"])))
        elif node.tag not in (SVG + "defs", SVG + "style", SVG + "title", SVG + "desc"):
            for child in node:
                walk(child, style, dx, dy)

    walk(root, {}, 0.0, 0.0)
    problems = [
        f"{text!r} leaves the canvas"
        for text, (x0, y0, x1, y1) in labels
        if x0 < 1 or y0 < 1 or x1 > width - 1 or y1 > height - 1
    ]
    for i, (text, box) in enumerate(labels):
        problems += [f"{text!r} overlaps {other!r}" for other, b in labels[i + 1 :] if overlap(box, b, 0.5)]
        for edge in boxes:
            inside = edge[0] <= box[0] and box[2] <= edge[2] and edge[1] <= box[1] and box[3] <= edge[3]
            if overlap(edge, box, 0.5) and not inside:
                problems.append(f"{text!r} crosses the edge of the box at {num(edge[0])},{num(edge[1])}")
    for i, a in enumerate(boxes):
        problems += [
            f"the boxes at {num(a[0])},{num(a[1])} and {num(b[0])},{num(b[1])} overlap"
            for b in boxes[i + 1 :]
            if overlap(a, b, 0)
        ]
    return problems


# ----- writing ----------------------------------------------------------------------------------------


def write_diagrams(out_dir: Path, names: Iterable[str] | None = None) -> list[Path]:
    """Draw the diagrams into ``out_dir`` (printing any layout problem) and return the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name in names or DIAGRAMS:
        svg = draw(name)
        for problem in layout_problems(svg):
            print(f"layout: {name}: {problem}", file=sys.stderr)
        path = out_dir / name
        path.write_text(svg, encoding="utf-8", newline="\n")
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
