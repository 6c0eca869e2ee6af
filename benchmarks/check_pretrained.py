"""Score the shipped checkpoint on the quality protocol and check it against its quality bar.

The protocol is ``rssm.evaluate.QUALITY``: K = 8 context frames, 24 predicted frames, 1,024 fresh
held-out sequences, the dot's position error over frames where it is visible. The bar: horizon 10
at most 1.5 px and below the constant-velocity baseline; below that baseline at horizon 20. Prints the
open-loop table and one JSON line; exits 1 if the bar is missed.

    python benchmarks/check_pretrained.py [--sequences 1024] [--path rssm/pretrained/moving_dot_occluded.pt]
    python benchmarks/check_pretrained.py --repeats 9   # also: how much the figure moves between held-out sets

``--repeats R`` scores R - 1 further sets of the same size (seeds QUALITY.seed + 1, ...) and adds the
mean, standard deviation and range of the horizon-10 error over all R sets to the JSON line, so that a
figure near the bar can be read with its sampling noise. The first set decides the bar.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys

from rssm.checkpoint import PRETRAINED, load_checkpoint
from rssm.evaluate import QUALITY

BAR_PX = 1.5  # horizon-10 error the shipped checkpoint must not exceed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--path", default=str(PRETRAINED["moving_dot_occluded"]))
    parser.add_argument("--sequences", type=int, default=QUALITY.sequences)
    parser.add_argument("--repeats", type=int, default=1, help="score this many held-out sets (the first one decides the bar)")
    args = parser.parse_args()
    if args.sequences < 1:
        parser.error(f"--sequences must be at least 1, got {args.sequences}")
    if args.repeats < 1:
        parser.error(f"--repeats must be at least 1, got {args.repeats}")
    try:
        checkpoint = load_checkpoint(args.path)
    except (FileNotFoundError, ValueError) as error:
        parser.error(str(error))
    protocol = QUALITY.replace(sequences=args.sequences)
    report = protocol.evaluate(checkpoint.model, checkpoint.data_config)
    print(report.table(horizons=(1, 5, 10, 15, 20, 24)))
    h10, h20 = report.at(10), report.at(20)
    passed = h10["model"] <= BAR_PX and h10["model"] < h10["constant_velocity"] and h20["model"] < h20["constant_velocity"]
    extra = {}
    if args.repeats > 1:
        h10_sets = [h10["model"]] + [protocol.replace(seed=protocol.seed + i).evaluate(checkpoint.model, checkpoint.data_config).at(10)["model"]
                                     for i in range(1, args.repeats)]
        extra["h10_model_over_sets"] = {"sets": args.repeats, "mean": round(statistics.mean(h10_sets), 3),
                                        "sd": round(statistics.stdev(h10_sets), 3),
                                        "min": round(min(h10_sets), 3), "max": round(max(h10_sets), 3)}
    print(json.dumps({
        "checkpoint": args.path, "occlusion": checkpoint.data_config.use_occlusion, "sequences": args.sequences,
        "h10_px": {k: round(v, 3) for k, v in h10.items()}, "h20_px": {k: round(v, 3) for k, v in h20.items()},
        "train_steps": checkpoint.step, "train_epochs": checkpoint.epoch, "train_minutes": round(checkpoint.seconds / 60, 1),
        **extra, "passed": passed,
    }))
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
