#!/usr/bin/env bash
# The recorded NSynth `small` CPU run (see docs/results.md): WaveNet AE + spectral baseline.
set -euxo pipefail
. .venv/bin/activate
[ -f data/notes/train/examples.json ] || latentmusic data notes data/notes
latentmusic train nsynth --data data/notes --preset small --out runs/nsynth-small --steps 20000 --minutes ${MINUTES:-45} --batch-size 8 --val-every 250 --ckpt-every 250 --threads 1 --no-progress
latentmusic train nsynth --model spectral --data data/notes --preset small --out runs/nsynth-spectral-small --steps 20000 --minutes ${BASELINE_MINUTES:-10} --batch-size 8 --val-every 250 --ckpt-every 250 --threads 1 --no-progress
latentmusic eval nsynth --model runs/nsynth-small --baseline runs/nsynth-spectral-small --data data/notes --split test --out runs/nsynth-small/eval --option max_notes=24 --option seconds=1.0
