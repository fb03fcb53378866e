#!/usr/bin/env bash
# NSynth WaveNet autoencoder (the paper's system), `small` preset, on the FluidR3 note set:
# build the notes, train, evaluate on the test split's unseen instruments.
#
#   MINUTES=132 THREADS=2 bash scripts/train_nsynth_small.sh        # the shipped nsynth-small
#   INIT=nsynth-small OUT=runs/nsynth-small-2 bash scripts/train_nsynth_small.sh   # next sitting
#   PRESET=small-pitch INIT=nsynth-small OUT=runs/nsynth-small-pitch bash scripts/train_nsynth_small.sh
#                                   # the pitch-conditioned WaveNet, grown from the shipped one
# Environment: MINUTES, THREADS, DATA, OUT, INIT, SOUNDFONT, EVAL_ARGS, PRESET (small).
set -euxo pipefail
. .venv/bin/activate
DATA=${DATA:-data/notes-fluidr3}
OUT=${OUT:-runs/nsynth-small-fluidr3}
. scripts/soundfont.sh  # FONT: FluidR3 where installed
latentmusic data notes "$DATA" "${FONT[@]}"
INIT_ARGS=()
if [ -n "${INIT:-}" ]; then INIT_ARGS=(--init "$INIT"); fi
latentmusic train nsynth --data "$DATA" --preset "${PRESET:-small}" --out "$OUT" --steps ${STEPS:-100000} \
  --minutes ${MINUTES:-45} --batch-size 8 --val-every 250 --ckpt-every 250 \
  --threads ${THREADS:-1} --no-progress "${INIT_ARGS[@]}"
# shellcheck disable=SC2086
latentmusic eval nsynth --model "$OUT/best" --data "$DATA" --split test --out "$OUT/eval" \
  --option max_notes=24 --option seconds=1.0 ${EVAL_ARGS:-}
