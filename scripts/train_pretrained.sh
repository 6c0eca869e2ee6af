#!/usr/bin/env bash
# Trains the checkpoint shipped in rssm/pretrained/ with the project's own CLI, occlusion on, and
# copies the resulting model.pt into the package unchanged. Run from the repository root:
#     bash scripts/train_pretrained.sh
# Stage 1: the default recipe (learning rate 1e-3) for 150 epochs (4,800 steps) or 55 minutes.
# Stage 2: resume at a lower learning rate (3e-4): a manual step decay. The shipped run was stopped
#          by hand after 40 epochs of it (1,280 steps), when the validation error had flattened at
#          ~3.6 px; `--epochs 190` reproduces that length.
# Stage 3: resume with beta 5 (a 5x stronger KL, which trains a more predictable posterior: the
#          lab in chapter 4 shows stronger KL pressure helps open-loop error) for 15 minutes.
# The wall-clock caps make the result depend on the machine's speed; the checkpoint's history records
# exactly how many steps each stage took (history["lr"] shows the switch).
# The shipped file was made on 2 shared CPU cores; see README.md for its measured quality.
# It predates the round-2 recipe (book/ablations.md), so every stage pins the round-1 schedule: a
# constant learning rate (--lr_final 1) and a constant foreground weight (--dot_weight_final 30).
set -euo pipefail
old_recipe=(--lr_final 1 --dot_weight_final 30)
out=runs/pretrained_occluded
rssm-train --use_occlusion --epochs 150 --max_minutes 55 --output_dir "$out" "${old_recipe[@]}"
rssm-train --use_occlusion --epochs 190 --lr 3e-4 --resume --output_dir "$out" "${old_recipe[@]}"
rssm-train --use_occlusion --epochs 330 --max_minutes 15 --lr 3e-4 --beta 5 --resume --output_dir "$out" "${old_recipe[@]}"
cp "$out/model.pt" rssm/pretrained/moving_dot_occluded.pt
python benchmarks/check_pretrained.py
