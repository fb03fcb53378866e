#!/usr/bin/env bash
# Our pitch-grid translator (translation/notegrid.py; docs/results.md, "translation-notegrid").
#   WHAT=ablate MINUTES=8 bash scripts/train_translation_notegrid.sh
#       equal-budget runs: notegrid (log weight 0.25, lambda 0.01), log weight 1, no
#       confusion, lambda 0.1; each evaluated on its best validation state;
#   WHAT=colour MINUTES=8 bash scripts/train_translation_notegrid.sh
#       equal-budget runs of the recolouring augmentation (log weight 1): none (the
#       shipped recipe), EQ + envelope 12 dB, EQ 12 dB only;
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
    train runs/ngc-none notegrid --set notebank_log_weight=1.0
    train runs/ngc-both notegrid --set notebank_log_weight=1.0 --set colour_eq_db=12 --set colour_envelope_db=12
    train runs/ngc-eq notegrid --set notebank_log_weight=1.0 --set colour_eq_db=12
    for r in ngc-none ngc-both ngc-eq; do evaluate runs/$r 2; done
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
