#!/usr/bin/env bash
# Trains the Dreamer agent that the package ships (rssm/pretrained/dreamer_agent.pt) in the shipped
# world model (moving_dot_occluded, held fixed), with the package's own loop (rssm/dreamer.py). Run
# from the repository root:
#     bash scripts/train_agent.sh
#   --actor_gradient dynamics   backpropagation of the imagined returns through the model (DreamerV1):
#                               on this task far faster to learn than REINFORCE (chapter 12)
#   --iterations 20             rounds of: collect 16 episodes with the exploring actor, then
#   --reward_updates 1000       updates of the goal reward head on the whole replay, and
#   --behavior_updates 150      actor-critic updates on rollouts imagined from replayed states
#   --monitor_episodes 50       after each round, the actor's mean action plays 50 monitoring episodes
#                               (recorded in the file's history; chapter 12 plots them)
# The replay starts with 256 random-action episodes (--prefill_episodes, the default); the actor's
# learning rate is BehaviorConfig's default, 3e-4 (1e-3 and 5e-4 learn faster at first but collapse
# now and then in later rounds: benchmarks/README.md). One thread, so that the run is reproducible
# bit for bit on a machine of the same kind (the thread count changes the order of float sums).
#
# Measured on the 2-core CPU where it was made: see benchmarks/README.md ("The shipped agent").
set -euo pipefail
OMP_NUM_THREADS=1 python -m rssm.dreamer rssm/pretrained/dreamer_agent.pt --checkpoint moving_dot_occluded \
    --actor_gradient dynamics --iterations 20 --reward_updates 1000 --behavior_updates 150 --monitor_episodes 50 \
    --seed 0
