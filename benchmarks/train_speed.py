"""Training speed of a finished run, read from its checkpoint: steps/s after the first epoch.

``throughput.py`` times bare steps; this reads what a whole ``rssm-train`` run achieved, batches,
per-epoch validation and checkpoints included. The first epoch is left out (start-up, CUDA warm-up).

    rssm-train --device cuda --use_occlusion --batch_size 256 --train_sequences 8192 --epochs 10 \\
        --deter_dim 256 --hidden_dim 192 --output_dir runs/speed
    python benchmarks/train_speed.py runs/speed/model.pt
"""

from __future__ import annotations

import argparse
import json
import sys

from rssm.checkpoint import load_checkpoint


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", help="a model.pt written by rssm-train")
    args = parser.parse_args()
    try:
        history = load_checkpoint(args.checkpoint).history
    except (FileNotFoundError, ValueError) as error:
        print(f"train_speed: {error}", file=sys.stderr)
        return 2
    times, epochs = history["time_s"], len(history["epoch"])
    if epochs < 2:
        print(f"train_speed: {args.checkpoint} holds {epochs} epoch(s); need at least 2", file=sys.stderr)
        return 2
    first_epoch = round(history["val_step"][0])  # steps in the first epoch
    steps = len(times) - first_epoch
    seconds = times[-1] - times[first_epoch - 1]
    print(json.dumps({"checkpoint": args.checkpoint, "steps": len(times), "epochs": epochs,
                      "steps_per_s_after_first_epoch": round(steps / seconds, 2)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
