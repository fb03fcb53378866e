#!/usr/bin/env bash
# The recorded Jukebox `small` CPU run (see docs/results.md). Time-boxed stages, 1 thread each.
set -euxo pipefail
. .venv/bin/activate
R=runs/jukebox_small
latentmusic train jukebox --model vqvae --preset small --data data/domains --out $R/vqvae --steps 100000 --minutes 40 --batch-size 8 --val-every 250 --ckpt-every 250 --threads 1 --no-progress
latentmusic jukebox encode-dataset --model $R --data data/domains -o runs/jukebox_codes
latentmusic train jukebox --model prior --preset small --data runs/jukebox_codes --out $R/prior --steps 100000 --minutes 20 --batch-size 16 --val-every 250 --ckpt-every 250 --threads 1 --no-progress
latentmusic train jukebox --model upsampler --preset small --data runs/jukebox_codes --out $R/upsampler_1 --steps 100000 --minutes 8 --batch-size 16 --val-every 250 --ckpt-every 250 --threads 1 --no-progress
latentmusic train jukebox --model upsampler --preset small --data runs/jukebox_codes --out $R/upsampler_0 --set level=0 --steps 100000 --minutes 8 --batch-size 16 --val-every 250 --ckpt-every 250 --threads 1 --no-progress
latentmusic eval jukebox --model $R --data runs/jukebox_codes --split test --out $R/eval
