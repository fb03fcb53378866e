#!/usr/bin/env bash
# The recorded MusicVAE drum and trio runs (docs/results.md, "MusicVAE — drums" / "— trios").
# WHAT=drums|trio-hier|trio-flat picks the run; MINUTES: wall-clock budget; RUN: run folder;
# INIT=models/NAME continues a shipped model in a new sitting. The data sets come from MIDI
# shipped in Debian packages (fetched with apt-get download; licences in each manifest).
# Each run keeps RUN/best/ = the state with the best validation score: with ~2,500 drum
# windows the drum model overfits after ~2,500 steps, and best/ is what gets shipped.
set -euxo pipefail
. .venv/bin/activate
native_bf16=$(python -c 'from latentmusic.train.harness import cpu_has_native_bf16 as f; print("bf16-mixed" if f() else "32-true")')
WHAT=${WHAT:-drums}
case "$WHAT" in
  drums) DATA=data/drums; PRESET=cat-drums_2bar_small; MODEL=flat; BATCH=64 ;;
  trio-hier) DATA=data/trios; PRESET=small-trio_16bar; MODEL=hierdec; BATCH=32 ;;
  trio-flat) DATA=data/trios; PRESET=small-trio_16bar; MODEL=flat; BATCH=32 ;;
  *) echo "WHAT must be drums, trio-hier or trio-flat" >&2; exit 2 ;;
esac
RUN=${RUN:-runs/$WHAT}
[ -d data/drums ] || latentmusic data drums data/drums
[ -d data/trios ] || latentmusic data trios data/trios
latentmusic train musicvae --data "$DATA" --out "$RUN" --preset "$PRESET" --model "$MODEL" \
    --batch-size "$BATCH" --steps 100000 --minutes "${MINUTES:-15}" --val-every 200 \
    --ckpt-every 1000 --threads "${THREADS:-2}" --precision "${PRECISION:-$native_bf16}" \
    --no-progress ${INIT:+--init "$INIT"}
latentmusic eval musicvae --model "$RUN/best" --data "$DATA" --split test --out "$RUN/best-eval"
