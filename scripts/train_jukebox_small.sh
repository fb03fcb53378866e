#!/usr/bin/env bash
# The recorded Jukebox `small` CPU run (docs/results.md): the whole chain, time-boxed stages.
#
#   bash scripts/train_jukebox_small.sh                          # the shipped jukebox-small
#   INIT=jukebox-small VQVAE_MINUTES=60 bash scripts/train_jukebox_small.sh   # a next sitting
#
# 1. data: Bach chorales + three folk collections (four "artists"), each piece rendered with
#    six instruments (the "genres") from FluidR3;
# 2. the three VQ-VAE levels; 3. the codes of the first CODE_SECONDS of every file, cached;
# 4. the top prior and the two upsamplers; 5. the evaluation through the whole chain.
# Each stage trains in $R/<part>; its best-validation checkpoint goes to $R/chain/<part>,
# the model that is evaluated and shipped (`latentmusic models ship $R/chain jukebox-small`).
# Environment: DATA, R (run folder), VQ_SET (VQ-VAE overrides), the *_MINUTES, THREADS, INIT.
set -euxo pipefail
. .venv/bin/activate
DATA=${DATA:-data/jukebox}
R=${R:-runs/jukebox-small}
CODES=${CODES:-$R/codes}
THREADS=${THREADS:-2}
VQ_SET=${VQ_SET:-lr=1e-3}
. scripts/soundfont.sh
latentmusic data domains "$DATA" --max-pieces 36 "${FONT[@]}"
latentmusic data domains "$DATA" --max-pieces 24 --corpus folk:essenFolksong,oneills1850,ryansMammoth "${FONT[@]}"

init() {  # --init for one stage of a next sitting: the shipped model's part of that name
  if [ -n "${INIT:-}" ]; then echo "--init $INIT/$1"; fi
}
to_chain() {  # the stage's best-validation checkpoint becomes the chain's part
  mkdir -p "$R/chain" && rm -rf "$R/chain/$1" && cp -r "$R/$1/best" "$R/chain/$1"
}
COMMON=(--steps 100000 --threads "$THREADS" --no-progress)
SETS=()
for kv in $VQ_SET; do SETS+=(--set "$kv"); done
# shellcheck disable=SC2046
latentmusic train jukebox --model vqvae --preset small --data "$DATA" --out "$R/vqvae" \
  "${SETS[@]}" --minutes "${VQVAE_MINUTES:-70}" --batch-size 8 --val-every 100 --ckpt-every 100 \
  "${COMMON[@]}" $(init vqvae)
to_chain vqvae  # the priors learn the codes of the best-validation VQ-VAE, encoded once
latentmusic jukebox encode-dataset --model "$R/chain" --data "$DATA" -o "$CODES" \
  --max-seconds "${CODE_SECONDS:-20}" --no-lyrics --no-progress
# shellcheck disable=SC2046
latentmusic train jukebox --model prior --preset small --data "$CODES" --out "$R/prior" \
  --minutes "${PRIOR_MINUTES:-25}" --batch-size 16 --val-every 100 --ckpt-every 100 \
  "${COMMON[@]}" $(init prior)
to_chain prior
for level in 1 0; do
  # shellcheck disable=SC2046
  latentmusic train jukebox --model upsampler --preset small --data "$CODES" \
    --out "$R/upsampler_$level" --set level=$level --minutes "${UPSAMPLER_MINUTES:-10}" \
    --batch-size 16 --val-every 100 --ckpt-every 100 "${COMMON[@]}" $(init upsampler_$level)
  to_chain upsampler_$level
done
latentmusic eval jukebox --model "$R/chain" --data "$CODES" --split test --out "$R/eval" \
  --option upsample=true --option samples_per_genre=4 --option continuations=12
