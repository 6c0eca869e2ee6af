#!/usr/bin/env bash
# Trains the checkpoint shipped in rssm/pretrained/ with the project's own CLI, occluders on, in one
# command, and copies the resulting model.pt into the package unchanged. Run from the repository root:
#     bash scripts/train_pretrained.sh
# The round-2 recipe (book/ablations.md) with two changes for a long run with occluders:
#   --dot_weight_final 5     the foreground weight decays 30 -> 5, not to 1: with occluders a weight
#                            of 1 leaves the dot's few pixels counting for little (ablations, round 2);
#   --train_sequences 4096   four times the default training set, since this run sees every
#                            sequence ~140 times instead of ~100 epochs over 1024.
# 140 epochs of 4096 sequences at batch 32 are 17,920 gradient steps; the cosine learning-rate decay
# (1e-3 -> 1e-4) spans all of them. It is a step budget, not a time budget, so the result does not
# depend on the machine's speed: about an hour on 2 quiet CPU cores (no GPU). See README.md for the
# checkpoint's measured quality.
set -euo pipefail
out=runs/pretrained_occluded
rssm-train --use_occlusion --epochs 140 --train_sequences 4096 --dot_weight_final 5 --viz_interval 35 --output_dir "$out"
cp "$out/model.pt" rssm/pretrained/moving_dot_occluded.pt
python benchmarks/check_pretrained.py
