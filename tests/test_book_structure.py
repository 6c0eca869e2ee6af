"""The book's structure: the table of contents, and the conventions every chapter notebook follows.

These read the files only (no kernel, no built site). A notebook that breaks a convention fails the
test named after it, with the notebook in the test id, e.g.
``test_notebook_first_code_cell_is_the_colab_setup_cell[03_prior_posterior]``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
TOC = yaml.safe_load((ROOT / "_toc.yml").read_text())
NOTEBOOKS = sorted(BOOK.glob("*.ipynb"))

# The first code cell of every notebook, exactly: it makes a chapter run on Colab, where the
# package is missing, by installing it from the book's repository.
SETUP_CELL = """\
# Set-up: on Colab (or anywhere rssm is missing) install the book's package from its repository.
try:
    import rssm
except ImportError:
    %pip install -q "rssm-book @ git+{url}\""""


def toc_files() -> list[str]:
    """Every file listed in _toc.yml (root, chapters, parts, sections), without extension."""
    files = [TOC["root"]]

    def walk(entries: list[dict]) -> None:
        for entry in entries:
            if "file" in entry:
                files.append(entry["file"])
            walk(entry.get("sections", []))

    walk(TOC.get("chapters", []))
    for part in TOC.get("parts", []):
        walk(part.get("chapters", []))
    return files


def load(notebook: Path) -> dict:
    return json.loads(notebook.read_text())


def source(cell: dict) -> str:
    text = cell.get("source", "")
    return "".join(text) if isinstance(text, list) else text


def markdown(nb: dict) -> list[str]:
    return [source(c) for c in nb["cells"] if c["cell_type"] == "markdown"]


def code_cells(nb: dict) -> list[dict]:
    return [c for c in nb["cells"] if c["cell_type"] == "code"]


notebook_params = pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[nb.stem for nb in NOTEBOOKS])


# --- the table of contents ---------------------------------------------------------------------


def test_toc_is_a_jupyter_book_with_the_intro_as_root():
    assert TOC["format"] == "jb-book"
    assert TOC["root"] == "book/intro"


@pytest.mark.parametrize("entry", toc_files())
def test_every_toc_entry_exists(entry):
    candidates = [ROOT / f"{entry}{suffix}" for suffix in (".md", ".ipynb")]
    assert any(path.is_file() for path in candidates), (
        f"_toc.yml lists {entry}, but neither {entry}.md nor {entry}.ipynb exists"
    )


def test_every_notebook_is_in_the_toc():
    listed = set(toc_files())
    missing = [nb.name for nb in NOTEBOOKS if f"book/{nb.stem}" not in listed]
    assert not missing, f"notebooks in book/ that _toc.yml does not list (the book would not show them): {missing}"


def test_notebooks_are_numbered_chapters_or_appendices():
    badly_named = [nb.name for nb in NOTEBOOKS if not re.fullmatch(r"(\d\d|appendix)_[a-z0-9_]+", nb.stem)]
    assert not badly_named, (
        f"notebooks should be named NN_short_name.ipynb (a chapter) or appendix_short_name.ipynb: {badly_named}")


# --- every notebook ----------------------------------------------------------------------------


@notebook_params
def test_notebook_opens_with_a_title_and_its_runtime(notebook):
    first = load(notebook)["cells"][0]
    assert first["cell_type"] == "markdown", "the first cell should be markdown: the title"
    text = source(first)
    assert text.startswith("# "), f"the first cell should start with a '# N. Title' heading, not {text[:40]!r}"
    assert "Runtime" in text, "the first cell should say how long the notebook runs ('Runtime: about ...')"


@notebook_params
def test_notebook_first_code_cell_is_the_colab_setup_cell(notebook):
    url = CONFIG["repository"]["url"]
    cell = code_cells(load(notebook))[0]
    assert source(cell).strip() == SETUP_CELL.format(url=url), (
        f"the first code cell should be exactly the set-up cell that installs from {url}:\n{SETUP_CELL.format(url=url)}"
    )
    assert "hide-input" in cell.get("metadata", {}).get("tags", []), "the set-up cell should be tagged hide-input"


@notebook_params
def test_notebook_ends_with_summary_and_exercises_with_solutions(notebook):
    cells = markdown(load(notebook))
    headings = [line.strip() for text in cells for line in text.splitlines() if line.startswith("## ")]
    assert "## Summary" in headings, "no '## Summary' heading"
    assert "## Exercises" in headings, "no '## Exercises' heading"
    start = next(i for i, text in enumerate(cells) if re.search(r"^## Exercises\s*$", text, re.MULTILINE))
    after = "\n".join(cells[start:])
    assert re.search(r"\{dropdown\}|:class:\s*dropdown", after), "the exercises should have solutions in a dropdown"


@notebook_params
def test_notebook_was_executed_top_to_bottom(notebook):
    counts = [cell.get("execution_count") for cell in code_cells(load(notebook))]
    assert counts == list(range(1, len(counts) + 1)), (
        f"execution counts {counts}: run the notebook from a fresh kernel, top to bottom, and save it"
    )


@notebook_params
def test_notebook_kernel_is_python3(notebook):
    assert load(notebook)["metadata"].get("kernelspec", {}).get("name") == "python3"


def _runtimes():
    import importlib.util

    spec = importlib.util.spec_from_file_location("runtimes", ROOT / "scripts" / "runtimes.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_runtime_a_chapter_states_is_the_one_its_stored_run_took(notebook):
    """One measured source: the stored run's execution times give the chapter's "Runtime:" line and its
    row in the intro's table (scripts/run_notebooks.py writes both; scripts/runtimes.py --write too)."""
    runtimes = _runtimes()
    nb = load(notebook)
    seconds = runtimes.measured_seconds(nb)
    assert seconds is not None, f"{notebook.name} stores no execution times: run scripts/run_notebooks.py on it"
    line = runtimes.RUNTIME_LINE.search(source(nb["cells"][0]))
    assert line and runtimes.spoken(seconds) in line.group(0), (
        f"{notebook.name} says {line and line.group(0)!r}, its stored run took {seconds:.0f} s "
        f"({runtimes.spoken(seconds)}): run .venv/bin/python scripts/runtimes.py --write")
    in_intro = runtimes.intro_cell((BOOK / "intro.md").read_text(), notebook.stem)
    assert in_intro == runtimes.short(seconds), (
        f"the intro gives {notebook.stem} {in_intro!r}, its stored run took {runtimes.short(seconds)}: "
        "run .venv/bin/python scripts/runtimes.py --write")


def test_runtimes_are_said_in_round_numbers():
    runtimes = _runtimes()
    assert [runtimes.spoken(s) for s in (2, 12, 44, 50, 89, 91, 150)] == [
        "about 5 seconds", "about 10 seconds", "about 45 seconds", "about 1 minute", "about 1 minute",
        "about 2 minutes", "about 2 minutes"]
    assert runtimes.short(150) == "~2 min" and runtimes.short(12) == "~10 s"
