#!/usr/bin/env bash
# Our note-bank translation decoders (see docs/results.md, "translation-notebank").
#   WHAT=ablate MINUTES=12 bash scripts/train_translation_notebank.sh
#       equal-budget runs of `notebank`, `notebank-noconfusion` and `notebank` with the
#       64-channel `small` encoder, each evaluated on its best validation state;
#   WHAT=long RUN=runs/translation-notebank INIT=runs/translation-notebank-abl/best MINUTES=40 \
#       PRESET=notebank bash scripts/train_translation_notebank.sh
#       one long run (continuing INIT when given), then its evaluation.
set -euxo pipefail
. .venv/bin/activate
[ -f data/domains/manifest.json ] || latentmusic data domains data/domains --max-pieces 40
[ -f data/heldout/manifest.json ] || latentmusic data domains data/heldout --instruments trumpet=56 --max-pieces 40
M=${MINUTES:-12}
THREADS=${THREADS:-2}
EVAL=(--data data/domains --split test --option heldout=data/heldout/trumpet --option max_pieces=3 --option seconds=3)
train() {  # RUN PRESET [extra train options...]
  local run=$1 preset=$2; shift 2
  latentmusic train translation --data data/domains --out "$run" --preset "$preset" --steps 100000 \
    --minutes "$M" --batch-size 8 --val-every 100 --ckpt-every 100 --threads "$THREADS" --no-progress "$@"
}
case "${WHAT:-ablate}" in
  ablate)
    train runs/translation-notebank-abl notebank
    train runs/translation-notebank-abl-noconf notebank-noconfusion
    train runs/translation-notebank-abl-enc64 notebank --set encoder_channels=64
    latentmusic eval translation --model runs/translation-notebank-abl/best "${EVAL[@]}" \
      --baseline runs/translation-notebank-abl-noconf/best --out runs/translation-notebank-abl/eval
    latentmusic eval translation --model runs/translation-notebank-abl-enc64/best "${EVAL[@]}" \
      --out runs/translation-notebank-abl-enc64/eval
    ;;
  long)
    RUN=${RUN:-runs/translation-notebank}
    train "$RUN" "${PRESET:-notebank}" ${INIT:+--init "$INIT"}
    latentmusic eval translation --model "$RUN/best" "${EVAL[@]}" --out "$RUN/eval"
    ;;
  *) echo "WHAT must be ablate or long" >&2; exit 2 ;;
esac
