"""A/B: steps per second of the training loop's step, this tree against another commit, side by side.

Each round times the default recipe's gradient step (every setting at its default: batch 32, windows of
32 frames, the default model, channels-last, the loss with its dot weight, backward, gradient
clipping, Adam) once in each tree, in a fresh process, alternating which goes first, so that both
see the same machine at the same time. The other commit is unpacked with ``git archive`` into a
temporary folder and imported from there (``PYTHONPATH``); this tree is imported from the repository.

    python benchmarks/ab_throughput.py --base 7662d44            # 4 rounds of 40 steps each
    python benchmarks/ab_throughput.py --base HEAD~3 --rounds 6

Prints one JSON line per timing and a last line with the medians and their ratio. Nothing else should
run on the machine meanwhile: two processes on two cores slow each other down many times over.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Runs inside each tree. The tree's own gradient step where it has one (rssm.train.gradient_step);
# before it existed, the training loop's step was exactly the fallback below.
HARNESS = """
import json, sys, time
import torch
from rssm.dataset import MovingDotConfig, generate_moving_dot_sequences
from rssm.losses import training_objective
from rssm.model import RSSM, RSSMConfig
from rssm.train import TrainConfig, random_windows
import rssm.train

warmup, steps = int(sys.argv[1]), int(sys.argv[2])
torch.manual_seed(0)
world = MovingDotConfig()
config = TrainConfig().for_world(world)
model = RSSM(RSSMConfig()).to(memory_format=torch.channels_last)
optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
batch = generate_moving_dot_sequences(world, config.batch_size, seed=0)
gen = torch.Generator().manual_seed(0)

def fallback(model, optimizer, obs, actions, config, step):
    loss, parts = training_objective(model, obs, actions, config, step)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
    optimizer.step()

step_fn = getattr(rssm.train, "gradient_step", fallback)
def step(i):
    obs, actions = random_windows(batch, config.chunk_len, gen)
    step_fn(model, optimizer, obs, actions, config, i)

for i in range(warmup):
    step(i)
start = time.perf_counter()
for i in range(steps):
    step(warmup + i)
seconds = (time.perf_counter() - start) / steps
print(json.dumps({"steps_per_s": 1 / seconds, "threads": torch.get_num_threads(), "torch": torch.__version__,
                  "rssm": rssm.__file__}))
"""


def unpack(commit: str, into: Path) -> Path:
    """The files of ``commit`` (``git archive``) in ``into``; refuses an unknown commit in one line."""
    done = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--verify", f"{commit}^{{commit}}"],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"ab_throughput: {commit!r} is not a commit of this repository")
    archive = into / "tree.tar"
    subprocess.run(["git", "-C", str(ROOT), "archive", "-o", str(archive), commit], check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(into / "tree", filter="data")
    return into / "tree"


def time_tree(tree: Path, warmup: int, steps: int) -> dict:
    """Steps per second of the gradient step with the package of ``tree``, in a fresh process."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    done = subprocess.run([sys.executable, "-c", HARNESS, str(warmup), str(steps)], cwd=tempfile.gettempdir(),
                          env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"ab_throughput: the step failed in {tree}: {done.stderr.strip().splitlines()[-1]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if not result["rssm"].startswith(str(tree)):
        sys.exit(f"ab_throughput: {tree} imported rssm from {result['rssm']}, not from the tree")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", required=True, help="the commit to compare with (A); this tree is B")
    parser.add_argument("--rounds", type=int, default=4, help="timings of each tree, alternating (default 4)")
    parser.add_argument("--steps", type=int, default=40, help="timed steps per timing (default 40)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps first (default 5)")
    args = parser.parse_args()
    for name in ("rounds", "steps", "warmup"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1, got {getattr(args, name)}")
    with tempfile.TemporaryDirectory(prefix="rssm-ab-") as scratch:
        trees = {"A": unpack(args.base, Path(scratch)), "B": ROOT}
        rates: dict[str, list[float]] = {"A": [], "B": []}
        for round_ in range(args.rounds):
            for name in ("AB" if round_ % 2 == 0 else "BA"):
                result = time_tree(trees[name], args.warmup, args.steps)
                rates[name].append(result["steps_per_s"])
                print(json.dumps({"round": round_, "tree": name, "steps_per_s": round(result["steps_per_s"], 2),
                                  "threads": result["threads"]}), flush=True)
    a, b = statistics.median(rates["A"]), statistics.median(rates["B"])
    print(json.dumps({"benchmark": "ab_throughput", "base": args.base, "A_steps_per_s": round(a, 2),
                      "B_steps_per_s": round(b, 2), "speedup": round(b / a, 2), "rounds": args.rounds,
                      "steps": args.steps, "torch": result["torch"]}))


if __name__ == "__main__":
    main()
