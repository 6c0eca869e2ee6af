"""Where does a checkpoint's open-loop error come from? The horizon-10 dot-position error, split by occlusion.

Uses the very sequences and protocol of ``check_pretrained.py`` (K = 8 context frames, 1,024 fresh held-out
sequences, the prior's mean, frames where the dot is visible at horizon 10) and splits them three ways:

- the dot was visible in every context frame and every frame up to horizon 10;
- it was visible in every context frame but hidden somewhere in the rollout before horizon 10;
- it was hidden in at least one context frame, so the rollout starts from a belief, not a sighting.

Also counts the predictions that draw no clear dot (peak less than 0.45 above the background) and
what they cost. Prints one JSON line.

    python benchmarks/error_breakdown.py [--path rssm/pretrained/moving_dot_occluded.pt] [--sequences 1024]
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import torch

from check_pretrained import HELD_OUT_SEED, K, held_out_world
from rssm.checkpoint import PRETRAINED, load_checkpoint
from rssm.dataset import MovingDotConfig
from rssm.evaluate import background_frames, estimate_dot_position, held_out_batches
from rssm.model import RSSM

HORIZON = 10


def held_out_batch(data_config: MovingDotConfig, sequences: int) -> tuple[MovingDotConfig, dict[str, torch.Tensor]]:
    """check_pretrained's very held-out sequences, as one batch, and their world."""
    world = held_out_world(data_config)
    chunks = list(held_out_batches(world, sequences, HELD_OUT_SEED))
    return world, {key: torch.cat([chunk[key] for chunk in chunks]) for key in chunks[0]}


def dot_at(frames: torch.Tensor, background: torch.Tensor, horizon: int) -> torch.Tensor:
    """The dot's (x, y) read off the predicted frame at ``horizon``: frames (B, N, 1, S, S) -> (B, 2)."""
    return estimate_dot_position(frames[:, horizon - 1 : horizon], background)[:, 0]


def error_breakdown(model: RSSM, data_config: MovingDotConfig, sequences: int = 1024) -> dict[str, Any]:
    """Score ``model`` on check_pretrained's held-out sequences: the horizon-10 error per occlusion group.

    Returns {"h10_px": {group: {"n", "mean", "share_of_total"}}, "h20_px": float, "no_clear_dot": {...}}.
    """
    world, batch = held_out_batch(data_config, sequences)
    obs, actions, visible = batch["obs"], batch["actions"], batch["visible"]
    with torch.no_grad():
        pred = model.open_loop_rollout(obs[:, :K], actions[:, :K], actions[:, K:], K)  # (B, H, 1, S, S)
    background = background_frames(batch["occluder_mask"], world)  # (B, 1, S, S)

    def error_at(horizon: int) -> torch.Tensor:  # (B,) pixels
        return (dot_at(pred, background, horizon) - batch["states"][:, K + horizon - 1, :2]).norm(dim=-1)

    error = error_at(HORIZON)
    scored = visible[:, K + HORIZON - 1]
    seen_context = visible[:, :K].all(1)
    seen_rollout = visible[:, K : K + HORIZON].all(1)
    groups = {
        "all": scored,
        "visible throughout": scored & seen_context & seen_rollout,
        "hidden during the rollout only": scored & seen_context & ~seen_rollout,
        "hidden in the context": scored & ~seen_context,
    }
    peak = (pred[:, HORIZON - 1, 0] - background[:, 0]).flatten(1).amax(-1)  # (B,)
    no_clear_dot = scored & (peak < 0.45)
    return {
        "h10_px": {name: {"n": int(mask.sum()), "mean": round(error[mask].mean().item(), 2),
                          "share_of_total": round((error[mask].sum() / error[scored].sum()).item(), 2)}
                   for name, mask in groups.items()},
        "h20_px": round(error_at(20)[visible[:, K + 19]].mean().item(), 2),
        "no_clear_dot": {"n": int(no_clear_dot.sum()), "mean_px": round(error[no_clear_dot].mean().item(), 2)},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--path", default=str(PRETRAINED["moving_dot_occluded"]))
    parser.add_argument("--sequences", type=int, default=1024)
    args = parser.parse_args()
    checkpoint = load_checkpoint(args.path)
    result = error_breakdown(checkpoint.model, checkpoint.data_config, args.sequences)
    print(json.dumps({"checkpoint": args.path, "sequences": args.sequences, "horizon": HORIZON, **result}))


if __name__ == "__main__":
    main()
