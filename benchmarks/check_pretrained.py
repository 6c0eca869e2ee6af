"""Check the shipped checkpoint against the quality bar on fresh held-out sequences.

The bar (K = 8 context frames, dot-position error over frames where the dot is visible):
horizon 10 at most 1.5 px and below the constant-velocity baseline; below that baseline at horizon 20.
Prints the open-loop table and one JSON line; exits 1 if the bar is missed.

    python benchmarks/check_pretrained.py [--sequences 1024] [--path rssm/pretrained/moving_dot_occluded.pt]
    python benchmarks/check_pretrained.py --repeats 9   # also: how much the figure moves between held-out sets

The bar is judged on one fixed set of held-out sequences (seed HELD_OUT_SEED). ``--repeats R`` scores
R - 1 further sets of the same size (seeds HELD_OUT_SEED + 1 ...) and adds the mean, standard deviation
and range of the horizon-10 error over all R sets to the JSON line, so that a figure near the bar can be
read with its sampling noise.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys

from rssm.checkpoint import PRETRAINED, load_checkpoint
from rssm.dataset import MovingDotConfig
from rssm.evaluate import evaluate_open_loop

HELD_OUT_SEED = 20_261_125  # never used for training (training uses --seed, validation 1_000_003)
K, FUTURE_FRAMES = 8, 24  # context frames, then horizons 1..24


def held_out_world(data_config: MovingDotConfig) -> MovingDotConfig:
    """The checkpoint's world with sequences of K context frames and FUTURE_FRAMES frames to predict."""
    return MovingDotConfig(**{**data_config.to_dict(), "seq_len": K + FUTURE_FRAMES})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--path", default=str(PRETRAINED["moving_dot_occluded"]))
    parser.add_argument("--sequences", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=1, help="score this many held-out sets (the first one decides the bar)")
    args = parser.parse_args()
    if args.sequences < 1:
        parser.error(f"--sequences must be at least 1, got {args.sequences}")
    if args.repeats < 1:
        parser.error(f"--repeats must be at least 1, got {args.repeats}")
    checkpoint = load_checkpoint(args.path)
    world = held_out_world(checkpoint.data_config)

    def score(seed: int):  # one held-out set of args.sequences sequences -> OpenLoopReport
        return evaluate_open_loop(checkpoint.model, world, K=K, num_sequences=args.sequences, seed=seed)

    report = score(HELD_OUT_SEED)
    print(report.table(horizons=(1, 5, 10, 15, 20, 24)))
    h10, h20 = report.at(10), report.at(20)
    passed = h10["model"] <= 1.5 and h10["model"] < h10["constant_velocity"] and h20["model"] < h20["constant_velocity"]
    history = checkpoint.history
    extra = {}
    if args.repeats > 1:
        h10_sets = [h10["model"]] + [score(HELD_OUT_SEED + i).at(10)["model"] for i in range(1, args.repeats)]
        extra["h10_model_over_sets"] = {"sets": args.repeats, "mean": round(statistics.mean(h10_sets), 3),
                                        "sd": round(statistics.stdev(h10_sets), 3),
                                        "min": round(min(h10_sets), 3), "max": round(max(h10_sets), 3)}
    print(json.dumps({
        "checkpoint": args.path, "occlusion": checkpoint.data_config.use_occlusion, "sequences": args.sequences,
        "h10_px": {k: round(v, 3) for k, v in h10.items()}, "h20_px": {k: round(v, 3) for k, v in h20.items()},
        "train_steps": len(history.get("loss", [])), "train_epochs": len(history.get("epoch", [])),
        "train_minutes": round(history["time_s"][-1] / 60, 1) if history.get("time_s") else None, **extra, "passed": passed,
    }))
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
