#!/usr/bin/env bash
# The recorded MusicVAE CPU run on the music21 corpus melodies (see docs/results.md).
# MINUTES: wall-clock budget; RESUME=1 continues the run in $RUN; THREADS: torch threads;
# PRECISION: bf16-mixed trains these LSTMs ~1.5x faster than 32-true on a CPU with
# AVX512-BF16 or AMX, and ~3x *slower* on one without (weights and Adam stay float32;
# benchmarks/musicvae_training.py), so the default follows what /proc/cpuinfo says.
set -euxo pipefail
if grep -qE 'avx512_bf16|amx_bf16' /proc/cpuinfo 2>/dev/null; then native_bf16=bf16-mixed; else native_bf16=32-true; fi
. .venv/bin/activate
RUN=${RUN:-runs/cat-mel_2bar_small}
[ -d data/melodies ] || latentmusic data melodies data/melodies
latentmusic train musicvae --data data/melodies --out "$RUN" --preset cat-mel_2bar_small \
    --batch-size 64 --steps 60000 --minutes "${MINUTES:-50}" --val-every 500 --ckpt-every 1000 \
    --threads "${THREADS:-2}" --precision "${PRECISION:-$native_bf16}" --no-progress ${RESUME:+--resume}
latentmusic eval musicvae --model "$RUN" --data data/melodies --split test --out "$RUN/eval"
