"""Execute chapters top to bottom in a fresh kernel and save their outputs (what nbval then checks).

    .venv/bin/python scripts/run_notebooks.py book/04_training_kl_balancing.ipynb [more.ipynb ...]

Each notebook runs from ``book/`` (as Jupyter and nbval run it) and is saved in place only if every
cell succeeds (a cell tagged ``raises-exception`` may raise). Live widgets keep no saved state:
the static site shows a note in their place, never an empty widget. Prints how long each notebook
took, and writes that runtime into the chapter's "Runtime:" line and the intro's table
(``scripts/runtimes.py``: the stored run is their one source).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from runtimes import write as write_runtime  # scripts/runtimes.py, next to this script


def merge_streams(outputs: list) -> list:
    """Join consecutive stream outputs of one name: the kernel may split one print in two, and the
    site would show the second half as a box of its own. nbval compares the joined text alike."""
    merged: list = []
    for output in outputs:
        if merged and output.output_type == "stream" and merged[-1].output_type == "stream" and merged[-1].name == output.name:
            merged[-1].text += output.text
        else:
            merged.append(output)
    return merged


def run(path: Path, timeout: int) -> float:
    """Execute ``path`` in place; returns the seconds it took. Raises CellExecutionError on a failing cell."""
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    notebook.metadata.pop("widgets", None)  # the widgets' saved state: the website shows a note instead
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs = merge_streams(cell.outputs)
    tmp = path.with_name(f".{path.name}.tmp")
    nbformat.write(notebook, tmp)
    tmp.replace(path)
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--timeout", type=int, default=1800, help="seconds one cell may take")
    args = parser.parse_args()
    missing = [str(p) for p in args.notebooks if not p.is_file()]
    if missing:
        parser.error(f"no such notebook: {', '.join(missing)}")
    for path in args.notebooks:
        try:
            seconds = run(path, args.timeout)
        except CellExecutionError as error:
            print(f"run_notebooks: {path} failed and was left unchanged:\n{error}", file=sys.stderr)
            return 1
        write_runtime(path)  # the chapter's "Runtime:" line and the intro's row, from the run just stored
        print(f"{path}: {seconds:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
