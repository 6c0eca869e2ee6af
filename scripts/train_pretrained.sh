#!/usr/bin/env bash
# Trains the checkpoint shipped in rssm/pretrained/ with the project's own CLI, occluders on, from
# scratch, and copies the resulting model.pt into the package unchanged. Run from the repository root:
#     bash scripts/train_pretrained.sh
# It ran on one NVIDIA H200 (see README.md "Pretrained checkpoint"), as two calls
# of rssm-train in a row, because one call on that machine may run at most 10 minutes:
#   1. the main run: a cosine from 2e-3 down to 1e-4 over 7.75 minutes (5,171 steps there, at 11.1
#      steps/s, while a batch-512 variant shared the GPU; alone it would have run more steps);
#   2. a warm restart of the same run (--resume: its weights, Adam state and history) with a fresh,
#      lower cosine, 5e-4 down to 5e-5, over 3.4 minutes (2,660 more steps; 7,831 in all).
# The recipe, scaled up where a GPU makes it cheap (book/ablations.md says what each choice buys):
#   --deter_dim 256 --hidden_dim 192   the default width (named: the run predates that default)
#   --stoch_dim 32                     the default z; 735k parameters in all, and
#                                      model.pt (weights + Adam state + history) stays under 10 MB
#   --batch_size 1024                  a step of this small model is bound by kernel launches, so on a
#                                      GPU 1,024 sequences cost about what 256 do; batch 1024 beat 512
#                                      side by side
#   --lr 2e-3 --lr_final 0.05          a larger peak than the CPU default, which won per step
#   --dot_weight_final 5               the default with occluders (named: the run predates that default)
#   --train_sequences 32768            each sequence is seen ~245 times in all, as 32-frame windows
# --max_minutes ends each stage (the cosine fits whichever budget runs out first, so each still ends on
# its small learning rate); --epochs is a ceiling sized from the machine's step rate. The step counts
# therefore depend on the GPU: a slower one trains fewer steps in the same minutes. Without a GPU,
# pass --device cpu and drop --max_minutes; an estimate for 2 cores is about 15 hours (7,831 steps at
# ~7 s each: four times the 1.77 s that throughput.py measured for a batch of 256).
set -euo pipefail
out=runs/gpu
model="--use_occlusion --train_sequences 32768 --batch_size 1024 --dot_weight_final 5 \
    --deter_dim 256 --hidden_dim 192 --stoch_dim 32 --viz_interval 1000 --output_dir $out"
rssm-train --device cuda $model --epochs 219 --lr 2e-3 --lr_final 0.05 --max_minutes 7.75
rssm-train --device cuda $model --epochs 262 --lr 5e-4 --lr_final 0.1 --max_minutes 3.4 --resume
cp "$out/model.pt" rssm/pretrained/moving_dot_occluded.pt
python benchmarks/check_pretrained.py
