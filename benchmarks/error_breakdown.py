"""Where does a checkpoint's open-loop error come from? The horizon-10 error, split by occlusion.

On the quality protocol's sequences (``rssm.evaluate.QUALITY``, as ``check_pretrained.py``), three groups
that partition the scored frames: the dot was visible throughout; visible in the context but hidden
somewhere in the rollout; hidden in at least one context frame (the rollout starts from a belief).
See ``rssm.evaluate.error_breakdown``. Prints one JSON line.

    python benchmarks/error_breakdown.py [--path rssm/pretrained/moving_dot_occluded.pt] [--sequences 1024]
"""

from __future__ import annotations

import argparse
import json

from rssm.checkpoint import PRETRAINED, load_checkpoint
from rssm.evaluate import QUALITY, error_breakdown


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--path", default=str(PRETRAINED["moving_dot_occluded"]))
    parser.add_argument("--sequences", type=int, default=QUALITY.sequences)
    args = parser.parse_args()
    if args.sequences < 1:
        parser.error(f"--sequences must be at least 1, got {args.sequences}")
    try:
        checkpoint = load_checkpoint(args.path)
    except (FileNotFoundError, ValueError) as error:
        parser.error(str(error))
    result = error_breakdown(checkpoint.model, checkpoint.data_config, QUALITY.replace(sequences=args.sequences))
    print(json.dumps({"checkpoint": args.path, "sequences": args.sequences, "horizon": 10, **result}))


if __name__ == "__main__":
    main()
