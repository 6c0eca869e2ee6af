"""Which prediction should the position be read from: the prior's mean path, or sampled futures?

On the quality protocol's sequences (``rssm.evaluate.QUALITY``: K = 8, horizon 10, frames where the dot
is visible), compares the dot-position error of five ways to turn the model's open-loop belief into one
guess:

- ``mean path``: roll the prior's mean forward (what ``check_pretrained.py`` and chapter 5 score);
- ``one sample``: one sampled future;
- ``average frame``: the pixel-wise mean of ``--samples`` sampled frames, then read the dot off it;
- ``average position`` / ``median position``: read the dot off each sampled frame, then average
  (or take the coordinate-wise median of) the positions.

Prints one JSON line (pixels).

    python benchmarks/sampled_futures.py [--path CHECKPOINT] [--samples 16] [--sequences 1024]
"""

from __future__ import annotations

import argparse
import json

import torch

from rssm.checkpoint import PRETRAINED, load_checkpoint
from rssm.evaluate import QUALITY, background_frames, dot_at

HORIZON = 10


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--path", default=str(PRETRAINED["moving_dot_occluded"]))
    parser.add_argument("--samples", type=int, default=16)
    parser.add_argument("--sequences", type=int, default=QUALITY.sequences)
    parser.add_argument("--seed", type=int, default=0, help="seed of the sampled futures")
    args = parser.parse_args()
    for flag in ("samples", "sequences"):
        if getattr(args, flag) < 1:
            parser.error(f"--{flag} must be at least 1, got {getattr(args, flag)}")
    torch.manual_seed(args.seed)
    checkpoint = load_checkpoint(args.path)
    protocol = QUALITY.replace(sequences=args.sequences)
    batch, K = protocol.batch(checkpoint.data_config), protocol.K
    context = (batch["obs"][:, :K], batch["actions"][:, :K], batch["actions"][:, K:], K)
    background = background_frames(batch["occluder_mask"], protocol.world(checkpoint.data_config))  # (B, 1, S, S)
    truth = batch["states"][:, K + HORIZON - 1, :2]  # (B, 2)
    scored = batch["visible"][:, K + HORIZON - 1]  # (B,)

    def read(frames: torch.Tensor) -> torch.Tensor:  # (B, N, 1, S, S) -> (B, 2) at the horizon
        return dot_at(frames, background, HORIZON)

    with torch.no_grad():
        mean_path = checkpoint.model.open_loop_rollout(*context)  # (B, N, 1, S, S)
        futures = checkpoint.model.open_loop_rollout(*context, num_samples=args.samples)  # (S, B, N, 1, S, S)
    positions = torch.stack([read(future) for future in futures])  # (S, B, 2)
    guesses = {
        "mean path": read(mean_path),
        "one sample": positions[0],
        "average frame": read(futures.mean(0)),
        "average position": positions.mean(0),
        "median position": positions.median(0).values,
    }
    errors = {name: round((guess - truth).norm(dim=-1)[scored].mean().item(), 2) for name, guess in guesses.items()}
    print(json.dumps({"checkpoint": args.path, "samples": args.samples, "horizon": HORIZON, "h10_px": errors}))


if __name__ == "__main__":
    main()
