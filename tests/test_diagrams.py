"""The diagrams in book/images/ are the templates in scripts/diagrams/ filled in by scripts/draw_diagrams.py.

These run the script into a temporary folder and check that every SVG is well formed and readable at
the book's column width, that no label overlaps another or crosses the edge of its box, that the
figures show the current ``RSSMConfig()`` / ``TrainConfig()`` numbers (and follow other numbers when
the configs change), and that the committed files are byte-identical to a fresh run. If the last
check fails, edit the template, not the SVG, and re-draw them:

    .venv/bin/python scripts/draw_diagrams.py
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from types import ModuleType

import pytest

from rssm.dataset import MovingDotConfig
from rssm.model import RSSMConfig
from rssm.train import TrainConfig

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "draw_diagrams.py"
IMAGES = ROOT / "book" / "images"
SVG_NS = "{http://www.w3.org/2000/svg}"
COLUMN_PX = 690  # the book's text column at a 1280 px window
MIN_RENDERED_PX = 9
BOOK_DIAGRAMS = [  # the diagrams the chapters show, in their order
    "time_alignment.svg",
    "encoder_decoder.svg",
    "rssm_cell.svg",
    "kl_balancing.svg",
    "training_step.svg",
    "filtering.svg",
]


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("draw_diagrams", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


script = load_script()
DIAGRAMS = script.DIAGRAMS  # one per template: a new template is checked like the others


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The diagrams drawn by the command line into an empty folder."""
    out = tmp_path_factory.mktemp("diagrams")
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "layout:" not in result.stderr, result.stderr
    return out


def texts(svg_source: str) -> list[str]:
    """The content of every <text> element, tspans joined."""
    root = ET.fromstring(svg_source)
    return ["".join(element.itertext()) for element in root.iter(f"{SVG_NS}text")]


def test_the_script_draws_one_diagram_per_template_and_every_one_the_book_shows(fresh: Path) -> None:
    assert sorted(p.name for p in fresh.iterdir()) == DIAGRAMS
    assert set(BOOK_DIAGRAMS) <= set(DIAGRAMS)


@pytest.mark.parametrize("name", DIAGRAMS)
def test_diagram_is_a_well_formed_accessible_svg(fresh: Path, name: str) -> None:
    source = (fresh / name).read_text(encoding="utf-8")
    root = ET.fromstring(source)
    assert root.tag == f"{SVG_NS}svg"
    x, y, width, height = (float(v) for v in root.attrib["viewBox"].split())
    assert (x, y) == (0, 0) and 0 < width <= 760 and 0 < height
    assert height * COLUMN_PX / width <= 520, "taller than ~500 px at the column width"
    assert root.get("{http://www.w3.org/XML/1998/namespace}space") == "preserve", (
        "the layout check measures every space"
    )
    title, desc = root.find(f"{SVG_NS}title"), root.find(f"{SVG_NS}desc")
    assert title is not None and title.text and len(title.text) > 10
    assert desc is not None and desc.text and len(desc.text) > 100
    assert not re.search(r"(?:href|src)=\"(?!#)", source), "SVGs must be self-contained"
    assert "<script" not in source
    assert not re.search(r"\{[\w.:,]+\}", source), "a placeholder was left unfilled"


@pytest.mark.parametrize("name", DIAGRAMS)
def test_every_label_is_readable_at_the_column_width(fresh: Path, name: str) -> None:
    root = ET.fromstring((fresh / name).read_text(encoding="utf-8"))
    width = float(root.attrib["viewBox"].split()[2])
    sizes = [float(e.attrib["font-size"]) for e in root.iter() if "font-size" in e.attrib]
    assert sizes
    assert min(sizes) * COLUMN_PX / width >= MIN_RENDERED_PX


@pytest.mark.parametrize("name", DIAGRAMS)
def test_no_label_overlaps_another_or_leaves_its_box(fresh: Path, name: str) -> None:
    assert script.layout_problems((fresh / name).read_text(encoding="utf-8")) == []


def test_the_layout_check_finds_labels_that_overlap_cross_a_box_or_leave_the_canvas() -> None:
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" xml:space="preserve" viewBox="0 0 200 100" font-size="12">'
        '<text x="10" y="20">one label</text><text x="30" y="22">another</text>'
        '<g transform="translate(100 40)"><rect class="box plain" x="0" y="0" width="40" height="30"/>'
        '<text x="20" y="20" text-anchor="middle">far too wide</text></g>'
        '<text x="190" y="90">off</text></svg>'
    )
    problems = script.layout_problems(svg)
    assert len(problems) == 3, problems
    assert "overlaps" in problems[1] and "crosses the edge" in problems[2] and "leaves the canvas" in problems[0]


@pytest.mark.parametrize("name", DIAGRAMS)
def test_committed_diagram_is_up_to_date_with_its_template(fresh: Path, name: str) -> None:
    committed = IMAGES / name
    assert committed.exists(), f"{committed} is missing: run .venv/bin/python scripts/draw_diagrams.py"
    assert committed.read_bytes() == (fresh / name).read_bytes(), (
        f"{committed} differs from what scripts/draw_diagrams.py draws: edit scripts/diagrams/{name}, not the "
        "SVG, and re-run .venv/bin/python scripts/draw_diagrams.py"
    )


@pytest.mark.parametrize("name", DIAGRAMS)
def test_drawing_is_deterministic(fresh: Path, name: str) -> None:
    assert script.draw(name).encode("utf-8") == (fresh / name).read_bytes()


def test_rssm_cell_shows_the_default_sizes(fresh: Path) -> None:
    c = RSSMConfig()
    labels = texts((fresh / "rssm_cell.svg").read_text(encoding="utf-8"))
    joined = "\n".join(labels)
    for size in (c.deter_dim, c.stoch_dim, c.hidden_dim, c.embed_dim, c.action_dim):
        assert str(size) in labels, f"{size} is not a label of rssm_cell.svg"
    assert str(c.stoch_dim + c.action_dim) in labels  # the GRU's input
    assert f"Linear {c.deter_dim + c.embed_dim} → {c.hidden_dim}" in joined  # the posterior's first layer
    assert f"Linear {c.deter_dim} → {c.hidden_dim}" in joined  # the prior's first layer
    assert f"Linear → {2 * c.stoch_dim}" in joined  # mean and std
    assert f"{c.image_channels}×{c.image_size}×{c.image_size}" in joined
    side = c.image_size // 2**c.cnn_layers
    top = c.cnn_depth * 2 ** (c.cnn_layers - 1)
    assert f"{top}×{side}×{side}" in joined
    assert f"+ {c.min_std:g}" in joined
    assert ("with LayerNorm" if c.gru_layer_norm else "nn.GRUCell") in labels


def test_rssm_cell_follows_other_sizes() -> None:
    c = RSSMConfig(deter_dim=96, stoch_dim=24, hidden_dim=80, embed_dim=72, cnn_depth=6, action_dim=3, min_std=0.2)
    svg = script.draw("rssm_cell.svg", model=c)
    assert script.layout_problems(svg) == []
    joined = "\n".join(texts(svg))
    assert "Linear 168 → 80" in joined and "Linear 96 → 80" in joined and "Linear → 48" in joined
    assert "24×4×4" in joined and "flatten 384" in joined and "Linear 120 → 24×4×4" in joined
    assert "27" in texts(svg) and "+ 0.2" in joined
    codec = script.draw("encoder_decoder.svg", model=c)
    assert script.layout_problems(codec) == []
    assert "6×16×16" in "\n".join(texts(codec)) and "96 + 24" in texts(codec)


def test_training_diagrams_show_the_default_train_config(fresh: Path) -> None:
    t, d = TrainConfig(), MovingDotConfig()
    step = "\n".join(texts((fresh / "training_step.svg").read_text(encoding="utf-8")))
    assert f"{t.batch_size} sequences × {d.seq_len} frames" in step
    assert f"random window of {t.chunk_len} frames" in step
    assert f"‖∇‖ ≤ {t.grad_clip:g}" in step
    assert f"balance {t.kl_balance:g}" in step and f"free bits {t.free_bits:g} nat" in step
    for number in (t.dot_weight_decay_start, t.dot_weight_decay_end, t.warmup_steps):
        assert f"{number:,}" in step.split("\n")
    assert f"{t.dot_weight:g}" in step.split("\n")
    kl = "\n".join(texts((fresh / "kl_balancing.svg").read_text(encoding="utf-8")))
    assert f"{t.kl_balance:g}" in kl and f"{round(1 - t.kl_balance, 9):g}" in kl
    assert f"kl.clamp(min={t.free_bits:g})" in kl


def test_training_diagrams_follow_another_train_config() -> None:
    t = TrainConfig(
        kl_balance=0.7,
        free_bits=2.0,
        free_bits_mode="batch",
        batch_size=16,
        chunk_len=48,
        grad_clip=50.0,
        warmup_steps=300,
        train_sequences=1024,  # 6,400 steps in all
    )
    kl = script.draw("kl_balancing.svg", train=t)
    assert script.layout_problems(kl) == []
    joined = "\n".join(texts(kl))
    assert "0.7" in joined and "0.3" in joined and "clamp at 2 nat" in joined and "0.30000" not in joined
    assert "kl.mean().clamp(min=2)" in joined
    step = script.draw("training_step.svg", train=t)
    assert script.layout_problems(step) == []
    joined = "\n".join(texts(step))
    assert "16 sequences" in joined and "window of 48 frames" in joined and "‖∇‖ ≤ 50" in joined
    assert "300" in joined.split("\n") and "6,400" in joined.split("\n")


def test_a_default_that_a_template_cannot_show_stops_the_script() -> None:
    with pytest.raises(ValueError, match="kl_balancing.svg draws two gradient paths.*redraw"):
        script.draw("kl_balancing.svg", train=TrainConfig(kl_balance=1.0))


def test_a_new_diagram_is_a_template_with_named_placeholders(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "new.svg").write_text("<text>{model.deter_dim} and {train.kl_balance:g}, {feat}</text>{style}")
    (tmp_path / "typo.svg").write_text("<text>{model.h_dim}</text>")
    monkeypatch.setattr(script, "TEMPLATES", tmp_path)
    c, t = RSSMConfig(), TrainConfig()
    drawn = script.draw("new.svg")
    assert drawn.startswith(f"<text>{c.deter_dim} and {t.kl_balance:g}, {c.deter_dim + c.stoch_dim}</text><style>")
    with pytest.raises(ValueError, match="typo.svg.*h_dim"):
        script.draw("typo.svg")


def test_the_lambda_return_diagram_shows_the_actor_critics_defaults(fresh: Path) -> None:
    from rssm.behavior import BehaviorConfig

    b = BehaviorConfig()
    joined = "\n".join(texts((fresh / "lambda_return.svg").read_text(encoding="utf-8")))
    assert f"H = {b.horizon})" in joined
    assert f"γ = {b.discount:g} and λ = {b.return_lambda:g}" in joined
    assert "R3 = V(s3)" in joined and "r1, c1" in joined  # reward and continue read off s_(t+1)
