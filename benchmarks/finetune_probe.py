"""Ablation helper: does a short fine-tuning stage improve a trained checkpoint's open-loop error?

Resumes ``--path`` (weights, Adam state and counters, as ``rssm-train --resume`` would) for ``--steps``
gradient steps with the checkpoint's own recipe, overridden by ``--set``, on a fresh training set drawn
from ``--seed``; then scores it before and after with ``rssm.evaluate.error_breakdown`` on the quality
protocol's sequences. A resumed run starts its own cosine from ``lr`` to ``lr * lr_final`` over its
steps and, past step 100, no warm-up. Prints one JSON line. The fine-tuning rows of the ablations:

    python benchmarks/finetune_probe.py --steps 100 --set lr=3e-4 lr_final=0.1 batch_size=64
    python benchmarks/finetune_probe.py --set lr=1e-4 lr_final=0.3 batch_size=64            # control
    python benchmarks/finetune_probe.py --set lr=1e-4 lr_final=0.3 batch_size=64 overshoot=1 overshoot_mode=pixels
    python benchmarks/finetune_probe.py --set lr=1e-4 lr_final=0.3 batch_size=64 beta=3
    python benchmarks/finetune_probe.py --steps 150 --set lr=1e-4 lr_final=0.5 batch_size=256
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from rssm.checkpoint import PRETRAINED, load_checkpoint
from rssm.cli import parse_overrides
from rssm.evaluate import QUALITY, error_breakdown
from rssm.train import TrainConfig, train

PROGRAM = "finetune_probe"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--path", default=str(PRETRAINED["moving_dot_occluded"]))
    parser.add_argument("--steps", type=int, default=300, help="gradient steps of fine-tuning")
    parser.add_argument("--seed", type=int, default=43, help="seed of the fine-tuning training set (the run used 42)")
    parser.add_argument("--train_sequences", type=int, default=4096)
    parser.add_argument("--sequences", type=int, default=QUALITY.sequences, help="held-out sequences to score")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--set", nargs="*", default=[], help="TrainConfig fields over the checkpoint's, e.g. lr=1e-4 beta=3")
    args = parser.parse_args()
    if args.steps < 1:
        parser.error(f"--steps must be at least 1, got {args.steps}")
    torch.set_num_threads(args.threads)
    checkpoint = load_checkpoint(args.path)
    recipe = {key: value for key, value in checkpoint.train_config.items() if key in TrainConfig.__dataclass_fields__}
    changes = parse_overrides(args.set, TrainConfig, PROGRAM)
    overrides = {"epochs": 10**6, "val_sequences": 8, **changes, "seed": args.seed, "train_sequences": args.train_sequences,
                 "max_steps": checkpoint.step + args.steps, "max_minutes": None}
    try:
        config = TrainConfig(**{**recipe, **overrides})
    except ValueError as error:
        parser.error(str(error))
    protocol = QUALITY.replace(sequences=args.sequences)
    before = error_breakdown(checkpoint.model, checkpoint.data_config, protocol)  # train() changes the model in place
    start = time.perf_counter()
    model, _ = train(checkpoint.data_config, config=config, resume=checkpoint, progress=False)
    seconds = time.perf_counter() - start
    after = error_breakdown(model, checkpoint.data_config, protocol)
    print(json.dumps({
        "steps": args.steps, "set": changes, "batch_size": config.batch_size, "seconds": round(seconds),
        "h10_px": {"before": before["h10_px"]["all"]["mean"], "after": after["h10_px"]["all"]["mean"]},
        "h10_visible_throughout_px": after["h10_px"]["visible throughout"]["mean"],
        "h10_hidden_in_context_px": after["h10_px"]["hidden in the context"]["mean"],
        "h20_px": {"before": before["h20_px"], "after": after["h20_px"]},
    }), flush=True)


if __name__ == "__main__":
    main()
