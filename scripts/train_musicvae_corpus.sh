#!/usr/bin/env bash
# The recorded MusicVAE CPU run on the music21 corpus melodies (see docs/results.md).
set -euxo pipefail
. .venv/bin/activate
[ -d data/melodies ] || latentmusic data melodies data/melodies
latentmusic train musicvae --data data/melodies --out runs/cat-mel_2bar_small --preset cat-mel_2bar_small \
    --batch-size 64 --steps 20000 --minutes ${MINUTES:-50} --val-every 250 --ckpt-every 250 --threads 1 --no-progress
latentmusic eval musicvae --model runs/cat-mel_2bar_small --data data/melodies --split test --out runs/cat-mel_2bar_small/eval
