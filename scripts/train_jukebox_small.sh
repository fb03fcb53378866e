#!/usr/bin/env bash
# The recorded Jukebox `small` CPU run (docs/results.md): the whole chain, time-boxed stages.
#
#   bash scripts/train_jukebox_small.sh                          # the shipped jukebox-small
#   INIT=jukebox-small VQVAE_MINUTES=60 bash scripts/train_jukebox_small.sh   # a next sitting
#   INIT=jukebox-small PARTS="upsampler_1 upsampler_0" bash scripts/train_jukebox_small.sh
#                                     # a sitting for some parts; the others come from INIT
#
# 1. data: Bach chorales + three folk collections (four "artists"), each piece rendered with
#    six instruments (the "genres") from FluidR3;
# 2. the three VQ-VAE levels; 3. the codes of the first CODE_SECONDS of every file, cached;
# 4. the top prior and the two upsamplers; 5. the evaluation through the whole chain.
# Each stage trains in $R/<part>; its best-validation checkpoint goes to $R/chain/<part>,
# the model that is evaluated and shipped (`latentmusic models ship $R/chain jukebox-small`).
# Environment: DATA, R (run folder), VQ_SET (VQ-VAE overrides), the *_MINUTES, THREADS, INIT,
# PARTS (the parts to train, default all; EVAL=0 skips the evaluation).
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

PARTS=${PARTS:-vqvae prior upsampler_1 upsampler_0}
INIT_DIR=${INIT:-}
if [ -n "$INIT_DIR" ] && [ ! -d "$INIT_DIR" ]; then INIT_DIR=models/$INIT_DIR; fi
trains() { [[ " $PARTS " == *" $1 "* ]]; }
keep() {  # a part this sitting does not train: the INIT model's copy goes into the chain
  if [ -z "$INIT_DIR" ]; then echo "PARTS without $1 needs INIT (the model to take it from)" >&2; exit 2; fi
  mkdir -p "$R/chain" && rm -rf "$R/chain/$1" && cp -r "$INIT_DIR/$1" "$R/chain/$1"
}
init() {  # --init for one stage of a next sitting: the shipped model's part of that name
  if [ -n "$INIT_DIR" ]; then echo "--init $INIT_DIR/$1"; fi
}
to_chain() {  # the stage's best-validation checkpoint becomes the chain's part
  mkdir -p "$R/chain" && rm -rf "$R/chain/$1" && cp -r "$R/$1/best" "$R/chain/$1"
}
COMMON=(--steps 100000 --threads "$THREADS" --no-progress)
SETS=()
for kv in $VQ_SET; do SETS+=(--set "$kv"); done
if trains vqvae; then
  # shellcheck disable=SC2046
  latentmusic train jukebox --model vqvae --preset small --data "$DATA" --out "$R/vqvae" \
    "${SETS[@]}" --minutes "${VQVAE_MINUTES:-70}" --batch-size 8 --val-every 100 --ckpt-every 100 \
    "${COMMON[@]}" $(init vqvae)
  to_chain vqvae
else
  keep vqvae
fi
# the priors learn the codes of the best-validation VQ-VAE, encoded once
latentmusic jukebox encode-dataset --model "$R/chain" --data "$DATA" -o "$CODES" \
  --max-seconds "${CODE_SECONDS:-20}" --no-lyrics --no-progress
if trains prior; then
  # shellcheck disable=SC2046
  latentmusic train jukebox --model prior --preset small --data "$CODES" --out "$R/prior" \
    --minutes "${PRIOR_MINUTES:-25}" --batch-size 16 --val-every 100 --ckpt-every 100 \
    "${COMMON[@]}" $(init prior)
  to_chain prior
else
  keep prior
fi
for level in 1 0; do
  if ! trains upsampler_$level; then keep upsampler_$level; continue; fi
  # shellcheck disable=SC2046
  latentmusic train jukebox --model upsampler --preset small --data "$CODES" \
    --out "$R/upsampler_$level" --set level=$level --minutes "${UPSAMPLER_MINUTES:-10}" \
    --batch-size 16 --val-every 100 --ckpt-every 100 "${COMMON[@]}" $(init upsampler_$level)
  to_chain upsampler_$level
done
if [ "${EVAL:-1}" = 0 ]; then exit 0; fi
latentmusic eval jukebox --model "$R/chain" --data "$CODES" --split test --out "$R/eval" \
  --option upsample=true --option samples_per_genre=4 --option continuations=12
