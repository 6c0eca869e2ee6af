"""Each chapter's runtime, from one measured source: the execution times stored in the notebook.

A chapter says how long it takes in two places: its own "Runtime: about N minutes on a 2-core CPU"
line, and its row of the table in ``book/intro.md`` ("~N min"). Both come from the same number: the
time from the first cell's start to the last cell's end of the run whose outputs the notebook stores
(Jupyter records both in each cell's ``execution`` metadata). ``scripts/run_notebooks.py`` rewrites
both places after every run; ``tests/test_book_structure.py`` fails when either disagrees with the
stored run.

    .venv/bin/python scripts/runtimes.py            # print each chapter's measured runtime
    .venv/bin/python scripts/runtimes.py --write    # bring the two places up to date
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
INTRO = BOOK / "intro.md"
RUNTIME_LINE = re.compile(r"(Runtime:(?:\*\*)? )about [0-9]+ (?:seconds|minutes?)( on a 2-core CPU)")


def measured_seconds(notebook: dict) -> float | None:
    """Seconds from the first cell's start to the last cell's reply in the stored run, or None."""
    starts, ends = [], []
    for cell in notebook["cells"]:
        times = cell.get("metadata", {}).get("execution", {})
        if "iopub.execute_input" in times and "shell.execute_reply" in times:
            starts.append(datetime.fromisoformat(times["iopub.execute_input"].replace("Z", "+00:00")))
            ends.append(datetime.fromisoformat(times["shell.execute_reply"].replace("Z", "+00:00")))
    return (max(ends) - min(starts)).total_seconds() if starts else None


def rounded(seconds: float) -> tuple[int, str]:
    """A runtime in round numbers: (5 to 45, "seconds") in steps of 5 s under 45 s, else (N, "minutes")."""
    if seconds < 45:
        return max(5, 5 * round(seconds / 5)), "seconds"
    return max(1, round(seconds / 60)), "minutes"


def spoken(seconds: float) -> str:
    """How a chapter says it: "about 30 seconds", "about 1 minute", "about 4 minutes"."""
    number, unit = rounded(seconds)
    return f"about {number} {unit[:-1] if number == 1 else unit}"


def short(seconds: float) -> str:
    """How the intro's table says it: "~30 s", "~4 min"."""
    number, unit = rounded(seconds)
    return f"~{number} {'s' if unit == 'seconds' else 'min'}"


def chapters() -> list[Path]:
    """Every notebook of the book: the chapters (NN_name) and the appendices (appendix_name)."""
    return sorted(BOOK.glob("*.ipynb"))


def intro_row(name: str) -> re.Pattern[str]:
    """The row of chapter ``name`` in the intro's table: everything before its runtime cell, then the cell."""
    return re.compile(rf"^(\| {{doc}}`{re.escape(name)}` \|.*\| )([^|]+?)( \|)$", re.M)


def intro_cell(text: str, name: str) -> str | None:
    """The runtime cell of ``name``'s row in the intro's table, or None."""
    match = intro_row(name).search(text)
    return match.group(2) if match else None


def write(path: Path) -> bool:
    """Bring ``path``'s runtime line and its intro row up to date; True if anything changed."""
    notebook = json.loads(path.read_text())
    seconds = measured_seconds(notebook)
    if seconds is None:
        raise SystemExit(f"runtimes: {path.name} stores no execution times: run scripts/run_notebooks.py on it")
    changed = False
    first = notebook["cells"][0]
    text = "".join(first["source"])
    new_text, count = RUNTIME_LINE.subn(rf"\g<1>{spoken(seconds)}\g<2>", text)
    if count != 1:
        raise SystemExit(f"runtimes: {path.name}'s first cell needs one 'Runtime: about N ... on a 2-core CPU' line")
    if new_text != text:
        lines = new_text.split("\n")
        first["source"] = [line + "\n" for line in lines[:-1]] + [lines[-1]]
        path.write_text(json.dumps(notebook, indent=1, ensure_ascii=False, sort_keys=True) + "\n")
        changed = True
    intro = INTRO.read_text()
    new_intro, count = intro_row(path.stem).subn(rf"\g<1>{short(seconds)}\g<3>", intro)
    if count != 1:
        raise SystemExit(f"runtimes: book/intro.md has no table row for {path.stem}")
    if new_intro != intro:
        INTRO.write_text(new_intro)
        changed = True
    return changed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", action="store_true", help="rewrite the runtime line and the intro's row")
    args = parser.parse_args()
    for path in chapters():
        seconds = measured_seconds(json.loads(path.read_text()))
        if args.write:
            write(path)
        print(f"{path.stem}: {seconds:.0f} s -> {spoken(seconds)}" if seconds is not None else f"{path.stem}: not run")
    return 0


if __name__ == "__main__":
    sys.exit(main())
