#!/usr/bin/env bash
# The recorded Jukebox `small` CPU run (see docs/results.md). Time-boxed stages, 1 thread each.
# Stage 1 trains the VQ-VAE on the full chorale renderings; the codes for the priors come from
# 12-second renderings of 24 of the same pieces (encoding every full-length file took ~20 s a
# file on the shared 2-core machine, ~80 minutes for the set).
set -euxo pipefail
. .venv/bin/activate
R=runs/jukebox_small
if [ "${SKIP_VQVAE:-0}" != 1 ]; then
  latentmusic train jukebox --model vqvae --preset small --data data/domains --out $R/vqvae --steps 100000 --minutes 40 --batch-size 8 --val-every 250 --ckpt-every 250 --threads 1 --no-progress
fi
[ -f data/domains-12s/manifest.json ] || latentmusic data domains data/domains-12s --max-pieces 24 --seconds 12
latentmusic jukebox encode-dataset --model $R --data data/domains-12s -o runs/jukebox_codes --no-progress
latentmusic train jukebox --model prior --preset small --data runs/jukebox_codes --out $R/prior --steps 100000 --minutes ${PRIOR_MINUTES:-12} --batch-size 16 --val-every 100 --ckpt-every 100 --threads 1 --no-progress
latentmusic train jukebox --model upsampler --preset small --data runs/jukebox_codes --out $R/upsampler_1 --steps 100000 --minutes ${UPSAMPLER_MINUTES:-5} --batch-size 16 --val-every 100 --ckpt-every 100 --threads 1 --no-progress
latentmusic train jukebox --model upsampler --preset small --data runs/jukebox_codes --out $R/upsampler_0 --set level=0 --steps 100000 --minutes ${UPSAMPLER_MINUTES:-5} --batch-size 16 --val-every 100 --ckpt-every 100 --threads 1 --no-progress
latentmusic eval jukebox --model $R --data runs/jukebox_codes --split test --out $R/eval
