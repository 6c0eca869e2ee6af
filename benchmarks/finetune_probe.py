"""Ablation helper: does a short fine-tuning stage improve a trained checkpoint's open-loop error?

Resumes ``--path`` (weights, Adam state and history, as ``rssm-train --resume`` would) for ``--steps``
gradient steps with the checkpoint's own recipe, overridden by ``--set``, on a fresh training set drawn
from ``--seed``; then scores the result on check_pretrained's 1,024 held-out sequences with
``error_breakdown``. Prints one JSON line. A resumed run starts its own cosine from ``lr`` to
``lr * lr_final`` and, past step 100, no warm-up. This produced book/ablations.md, round 5:

    python benchmarks/finetune_probe.py --steps 100 --set lr=3e-4 lr_final=0.1 batch_size=64
    python benchmarks/finetune_probe.py --set lr=1e-4 lr_final=0.3 batch_size=64            # control
    python benchmarks/finetune_probe.py --set lr=1e-4 lr_final=0.3 batch_size=64 overshoot=1 overshoot_mode='"pixels"'
    python benchmarks/finetune_probe.py --set lr=1e-4 lr_final=0.3 batch_size=64 beta=3
    python benchmarks/finetune_probe.py --set lr=1e-4 lr_final=0.3 batch_size=64 beta=10
    python benchmarks/finetune_probe.py --steps 150 --set lr=1e-4 lr_final=0.5 batch_size=256
"""

from __future__ import annotations

import argparse
import copy
import json
import time

import torch

from error_breakdown import error_breakdown
from rssm.checkpoint import PRETRAINED, load_checkpoint
from rssm.train import TrainConfig, train
from schedule_sweep import parse_pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--path", default=str(PRETRAINED["moving_dot_occluded"]))
    parser.add_argument("--steps", type=int, default=300, help="gradient steps of fine-tuning")
    parser.add_argument("--seed", type=int, default=43, help="seed of the fine-tuning training set (the run used 42)")
    parser.add_argument("--train_sequences", type=int, default=4096)
    parser.add_argument("--sequences", type=int, default=1024, help="held-out sequences to score")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--set", nargs="*", default=[], help="TrainConfig fields over the checkpoint's, e.g. lr=1e-4 beta=3")
    args = parser.parse_args()
    if args.steps < 1:
        raise SystemExit(f"finetune_probe: --steps {args.steps}: must be at least 1")
    torch.set_num_threads(args.threads)
    checkpoint = load_checkpoint(args.path)
    recipe = {key: value for key, value in checkpoint.train_config.items() if key in TrainConfig.__dataclass_fields__}
    done = len(checkpoint.history["loss"])
    changes = parse_pairs(args.set)
    overrides = {"epochs": 10**6, "val_sequences": 8, **changes,
                 "seed": args.seed, "train_sequences": args.train_sequences, "max_steps": done + args.steps,
                 "max_minutes": None}
    unknown = sorted(set(overrides) - set(TrainConfig.__dataclass_fields__))
    if unknown:
        raise SystemExit(f"finetune_probe: --set {', '.join(unknown)}: not a TrainConfig field")
    try:
        config = TrainConfig(**{**recipe, **overrides})
    except ValueError as error:
        raise SystemExit(f"finetune_probe: {error}") from None
    before = error_breakdown(checkpoint.model, checkpoint.data_config, args.sequences)  # train() changes the model in place
    start = time.perf_counter()
    model, _ = train(checkpoint.data_config, config=config, model=checkpoint.model, history=copy.deepcopy(checkpoint.history),
                     optimizer_state=checkpoint.optimizer_state, progress=False)
    seconds = time.perf_counter() - start
    after = error_breakdown(model, checkpoint.data_config, args.sequences)
    print(json.dumps({
        "steps": args.steps, "set": changes, "batch_size": config.batch_size, "seconds": round(seconds),
        "h10_px": {"before": before["h10_px"]["all"]["mean"], "after": after["h10_px"]["all"]["mean"]},
        "h10_visible_throughout_px": after["h10_px"]["visible throughout"]["mean"],
        "h10_hidden_in_context_px": after["h10_px"]["hidden in the context"]["mean"],
        "h20_px": {"before": before["h20_px"], "after": after["h20_px"]},
    }), flush=True)


if __name__ == "__main__":
    main()
