#!/usr/bin/env bash
# The recorded MusicVAE CPU run on the music21 corpus melodies (see docs/results.md).
# MINUTES: wall-clock budget; RESUME=1 continues the run in $RUN; THREADS: torch threads;
# PRECISION: bf16-mixed trains these LSTMs ~1.5x faster than 32-true on a CPU with
# AVX512-BF16 or AMX, and ~3x *slower* on one without (weights and Adam stay float32;
# benchmarks/musicvae_training.py), so the default follows the CPU (harness.cpu_has_native_bf16).
# BETA_RATE: the KL-weight schedule, beta = 0.2 * (1 - BETA_RATE^step). Magenta's 0.99999 leaves
# beta at 0.05 after 27k steps and the prior's samples far from the data (docs/results.md);
# 0.9999 reaches 0.17 by step 20k. INIT=models/NAME continues a shipped model in a new sitting.
set -euxo pipefail
. .venv/bin/activate
native_bf16=$(python -c 'from latentmusic.train.harness import cpu_has_native_bf16 as f; print("bf16-mixed" if f() else "32-true")')
RUN=${RUN:-runs/cat-mel_2bar_small}
[ -d data/melodies ] || latentmusic data melodies data/melodies
latentmusic train musicvae --data data/melodies --out "$RUN" --preset cat-mel_2bar_small \
    --batch-size 64 --steps 60000 --minutes "${MINUTES:-50}" --val-every 500 --ckpt-every 1000 \
    --threads "${THREADS:-2}" --precision "${PRECISION:-$native_bf16}" --no-progress ${RESUME:+--resume} \
    --set "beta_rate=${BETA_RATE:-0.9999}" ${INIT:+--init "$INIT"}
latentmusic eval musicvae --model "$RUN" --data data/melodies --split test --out "$RUN/eval"
