#!/usr/bin/env bash
# NSynth `harmonic` (our fast decoder: NSynth encoder + harmonic-plus-noise synthesizer),
# `small` preset: build the note set, train, evaluate on the test split's unseen instruments.
#
#   scripts/train_nsynth_harmonic.sh                      # ~40 min of training on one thread
#   MINUTES=150 THREADS=2 scripts/train_nsynth_harmonic.sh
#   INIT=runs/nsynth-harmonic-small OUT=runs/nsynth-harmonic-small-2 scripts/train_nsynth_harmonic.sh
#                                                         # a later sitting continues the model
# Environment: MINUTES, THREADS, PRESET (small), DATA, OUT, INIT, SOUNDFONT, NOTES_ARGS (extra
# `latentmusic data notes` options), EVAL_ARGS (extra `eval nsynth` options), BASELINE (runs
# to compare with, e.g. runs/nsynth-small, evaluated on the same notes), EVAL_DATA (the note set
# whose test split is measured; default DATA), STEPS (equal-step ablations), LR (the learning
# rate; note that a continued run is past the preset's decay steps, whose factors still apply
# unless TRAIN_ARGS sets lr_decay_steps), TRAIN_ARGS (extra `latentmusic train` options).
#
# A wider note set that keeps the default set's test instruments (so both are measured on
# the same unseen instruments):
#   DATA=data/notes-fluidr3-wide EVAL_DATA=data/notes-fluidr3 \
#   NOTES_ARGS="--programs all --test-programs 6,12,71,73 --velocities 25,75,127" \
#   scripts/train_nsynth_harmonic.sh
set -euxo pipefail
. .venv/bin/activate
PRESET=${PRESET:-small}
DATA=${DATA:-data/notes-fluidr3}
OUT=${OUT:-runs/nsynth-harmonic-$PRESET}
EVAL_DATA=${EVAL_DATA:-$DATA}

# FluidR3 (Debian's fluid-soundfont-gm) samples its instruments far better than the bundled
# TimGM6mb; fall back to TimGM6mb, with a note, where it is not installed.
. scripts/soundfont.sh  # FONT: FluidR3 where installed
# Resumable: a finished build is a no-op, an interrupted one continues.
# shellcheck disable=SC2086
latentmusic data notes "$DATA" "${FONT[@]}" ${NOTES_ARGS:-}

INIT_ARGS=()
if [ -n "${INIT:-}" ]; then INIT_ARGS=(--init "$INIT"); fi
# shellcheck disable=SC2086
latentmusic train nsynth --model harmonic --data "$DATA" --preset "$PRESET" --out "$OUT" \
  --steps ${STEPS:-100000} --minutes ${MINUTES:-40} --batch-size 8 --val-every 250 \
  --ckpt-every 250 --threads ${THREADS:-1} --no-progress "${INIT_ARGS[@]}" \
  ${LR:+--lr "$LR"} ${TRAIN_ARGS:-}

BASE_ARGS=()
for b in ${BASELINE:-}; do BASE_ARGS+=(--baseline "$b"); done
# shellcheck disable=SC2086
latentmusic eval nsynth --model "$OUT" "${BASE_ARGS[@]}" --data "$EVAL_DATA" --split test \
  --out "$OUT/eval" --option max_notes=24 --option seconds=1.0 ${EVAL_ARGS:-}
# The same notes replayed at the pitch pyin estimates from each original (no label used).
# shellcheck disable=SC2086
latentmusic eval nsynth --model "$OUT" --data "$EVAL_DATA" --split test --out "$OUT/eval-estimated-pitch" \
  --option max_notes=24 --option seconds=1.0 --option pitch=estimate ${EVAL_ARGS:-}
