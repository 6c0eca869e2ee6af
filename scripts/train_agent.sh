#!/usr/bin/env bash
# Trains the Dreamer agent that the package ships (rssm/pretrained/dreamer_agent.pt) in the shipped
# world model (moving_dot_occluded, held fixed), with the package's own loop (rssm/dreamer.py). Run
# from the repository root:
#     bash scripts/train_agent.sh
#   --actor_gradient dynamics   backpropagation of the imagined returns through the model (DreamerV1):
#                               on this task far faster to learn than REINFORCE (benchmarks/README.md)
#   --actor_lr 1e-3             a larger learning rate than DreamerV3's, for a run of minutes
#   --iterations 10             rounds of: collect 16 episodes with the exploring actor, then
#   --reward_updates 1000       updates of the goal reward head on the whole replay, and
#   --behavior_updates 150      actor-critic updates on rollouts imagined from replayed states
# The replay starts with 256 random-action episodes (--prefill_episodes, the default).
#
# Measured on the 2-core CPU where it was made (2 threads, nothing else running): 2 minutes 57 s in
# all; the collected episodes' final distance went 15.0 px (round 1) -> 1.16 px (round 10). What the
# agent then does on 100 episodes: python benchmarks/behavior.py (benchmarks/README.md).
set -euo pipefail
python -m rssm.dreamer rssm/pretrained/dreamer_agent.pt --checkpoint moving_dot_occluded \
    --actor_gradient dynamics --actor_lr 1e-3 --iterations 10 --reward_updates 1000 --behavior_updates 150 --seed 0
