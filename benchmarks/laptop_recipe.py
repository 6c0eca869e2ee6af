"""Run ``rssm-train`` as a user would, then score the model it saved: the laptop recipe's figures.

Each run is the command line itself (a subprocess, timed from start to exit: data generation,
validation and figures included), with the flags given after ``--`` and a fresh output folder. The
saved ``model.pt`` is then scored on the benchmark protocol (``rssm.evaluate.BENCHMARK``: K = 8, 256
fresh held-out sequences of the run's world): the dot-position error in pixels at horizon 10 over
visible frames, next to the constant-velocity baseline. One JSON line per run, with the run's
learning rate (``lr``, ``lr_final``), since the default recipe's changed once: runs recorded before
2026-12-08 used 1e-3 and 0.1, later ones 3e-3 and 0.033.

Minutes depend on the machine, and on what else it is doing: run one at a time on a quiet machine.

    python benchmarks/laptop_recipe.py -- --max_minutes 10                   # occluders on, every default
    python benchmarks/laptop_recipe.py -- --epochs 100                       # the seed's command
    python benchmarks/laptop_recipe.py --seeds 42 43 44 -- --max_minutes 5 --no_occlusion

``--record`` appends each run's line to a file as well: the book's figures are read from
``rssm/measurements/laptop_recipe.jsonl`` (chapter 4 shows them).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from rssm.checkpoint import load_checkpoint
from rssm.evaluate import BENCHMARK

PROGRAM = "laptop_recipe"


def run_once(flags: list[str], seed: int, keep: Path | None) -> dict:
    """``rssm-train --seed SEED FLAGS`` in a fresh folder: its wall time, steps and horizon-10 error."""
    folder = Path(tempfile.mkdtemp(prefix="laptop_recipe_"))
    command = [sys.executable, "-m", "rssm.cli", "--seed", str(seed), "--output_dir", str(folder), *flags]
    started = time.perf_counter()
    done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    minutes = (time.perf_counter() - started) / 60
    if done.returncode != 0:
        last = done.stderr.strip().splitlines()[-1:] or ["(no message)"]
        raise SystemExit(f"{PROGRAM}: rssm-train exited with {done.returncode}: {last[0]}")
    run = load_checkpoint(folder / "model.pt")
    report = BENCHMARK.evaluate(run.model, run.data_config)
    at10 = report.at(10)
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        shutil.copy(folder / "model.pt", keep / f"seed{seed}.pt")
    shutil.rmtree(folder, ignore_errors=True)
    return {
        "command": "rssm-train " + " ".join(["--seed", str(seed), *flags]),
        "occlusion": run.data_config.use_occlusion,
        "lr": run.train_config["lr"],  # the learning rate's peak and final fraction: the default changed once
        "lr_final": run.train_config["lr_final"],
        "threads": torch.get_num_threads(),
        "steps": run.step,
        "epochs": run.epoch,
        "wall_minutes": round(minutes, 2),
        "train_minutes": round(run.seconds / 60, 2),
        "steps_per_second": round(run.step / run.seconds, 2) if run.seconds else None,
        "h10_px": round(at10["model"], 3),
        "h10_constant_velocity_px": round(at10["constant_velocity"], 3),
    }


def append_line(path: Path, line: str) -> None:
    """Add one line to ``path`` through a temporary file, so that the file is never half-written."""
    before = path.read_text() if path.exists() else ""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(before + line + "\n")
    tmp.replace(path)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    ours, flags = (argv[: argv.index("--")], argv[argv.index("--") + 1 :]) if "--" in argv else (argv, [])
    parser = argparse.ArgumentParser(prog=PROGRAM, description=__doc__.splitlines()[0],
                                     epilog="Flags after -- go to rssm-train unchanged (not --seed or --output_dir).")
    parser.add_argument("--seeds", type=int, nargs="+", default=[42], help="training seeds, one run each (default: 42)")
    parser.add_argument("--keep", type=Path, default=None, help="copy each run's model.pt here as seedN.pt")
    parser.add_argument("--record", type=Path, default=None, help="also append each run's JSON line to this file")
    args = parser.parse_args(ours)
    for flag in ("--seed", "--output_dir"):
        if flag in flags:
            parser.error(f"{flag} is set by {PROGRAM} itself")
    rows = []
    for seed in args.seeds:
        rows.append(run_once(flags, seed, args.keep))
        print(json.dumps(rows[-1]), flush=True)
        if args.record is not None:
            append_line(args.record, json.dumps(rows[-1]))
    if len(rows) > 1:
        errors = torch.tensor([row["h10_px"] for row in rows])
        print(json.dumps({"runs": len(rows), "h10_px_mean": round(errors.mean().item(), 3),
                          "h10_px_min": round(errors.min().item(), 3), "h10_px_max": round(errors.max().item(), 3)}))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
