#!/usr/bin/env bash
# Our pitch-grid translator (translation/notegrid.py; docs/results.md, "translation-notegrid").
#   WHAT=ablate MINUTES=8 bash scripts/train_translation_notegrid.sh
#       equal-budget runs: notegrid (log weight 0.25, lambda 0.01), log weight 1, no
#       confusion, lambda 0.1; each evaluated on its best validation state;
#   WHAT=colour STEPS=400 bash scripts/train_translation_notegrid.sh
#       the recolouring augmentation, each run continuing the shipped model for STEPS steps
#       (log weight 1): none (the shipped recipe), EQ + envelope 12 dB, EQ 12 dB only;
#   WHAT=long RUN=runs/translation-notegrid INIT=runs/ng-abl/best MINUTES=70 \
#       SETS="notebank_log_weight=1.0" bash scripts/train_translation_notegrid.sh
#       one long run (continuing INIT when given), then its full evaluation.
set -euxo pipefail
. .venv/bin/activate
[ -f data/domains/manifest.json ] || latentmusic data domains data/domains --max-pieces 40
[ -f data/heldout/manifest.json ] || latentmusic data domains data/heldout --instruments trumpet=56 --max-pieces 40
M=${MINUTES:-8}
THREADS=${THREADS:-2}
train() {  # RUN PRESET [extra train options...]
  local run=$1 preset=$2; shift 2
  latentmusic train translation --data data/domains --out "$run" --preset "$preset" --steps 100000 \
    --minutes "$M" --batch-size 8 --val-every 100 --ckpt-every 100 --threads "$THREADS" --no-progress "$@"
}
evaluate() {  # RUN PIECES [extra eval options...]
  local run=$1 pieces=$2; shift 2
  latentmusic eval translation --model "$run/best" --data data/domains --split test \
    --option heldout=data/heldout/trumpet --option max_pieces="$pieces" --option seconds=3 \
    --out "$run/eval" "$@"
}
case "${WHAT:-ablate}" in
  ablate)
    train runs/ng-a notegrid
    train runs/ng-b notegrid --set notebank_log_weight=1.0
    train runs/ng-c notegrid-noconfusion
    train runs/ng-d notegrid --set confusion_lambda=0.1
    for r in ng-a ng-b ng-c ng-d; do evaluate runs/$r 2; done
    ;;
  colour)
    # Equal steps, not equal minutes (a shared machine makes minutes unequal): each run
    # continues the shipped model for STEPS steps; all evaluated on their final state.
    S=${STEPS:-400}
    ft() {  # RUN [extra train options...]
      local run=$1; shift
      latentmusic train translation --data data/domains --out "$run" --preset notegrid \
        --init models/translation-notegrid --steps "$S" --batch-size 8 --val-every 100 \
        --ckpt-every 100 --threads "$THREADS" --no-progress --set notebank_log_weight=1.0 "$@"
    }
    ft runs/ngc-none
    ft runs/ngc-both --set colour_eq_db=12 --set colour_envelope_db=12
    ft runs/ngc-eq --set colour_eq_db=12
    for r in ngc-none ngc-both ngc-eq; do
      latentmusic eval translation --model runs/$r --data data/domains --split test \
        --option heldout=data/heldout/trumpet --option max_pieces=2 --option seconds=3 --out runs/$r/eval
    done
    ;;
  long)
    RUN=${RUN:-runs/translation-notegrid}
    SET_ARGS=()
    for s in ${SETS:-}; do SET_ARGS+=(--set "$s"); done
    train "$RUN" "${PRESET:-notegrid}" ${INIT:+--init "$INIT"} "${SET_ARGS[@]}"
    evaluate "$RUN" 3
    ;;
  *) echo "WHAT must be ablate, colour or long" >&2; exit 2 ;;
esac
