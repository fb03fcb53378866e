#!/usr/bin/env bash
# The recorded music-translation `small` CPU run (see docs/results.md), with the
# no-confusion ablation and a held-out instrument (trumpet) the model never sees.
set -euxo pipefail
. .venv/bin/activate
[ -f data/domains/manifest.json ] || latentmusic data domains data/domains --max-pieces 40
[ -f data/heldout/manifest.json ] || latentmusic data domains data/heldout --instruments trumpet=56 --max-pieces 40
M=${MINUTES:-40}
latentmusic train translation --data data/domains --out runs/translation-small --preset small --steps 20000 --minutes $M --batch-size 8 --val-every 100 --ckpt-every 100 --threads 1 --no-progress &
latentmusic train translation --data data/domains --out runs/translation-small-noconf --preset small-noconfusion --steps 20000 --minutes $M --batch-size 8 --val-every 100 --ckpt-every 100 --threads 1 --no-progress &
wait
latentmusic eval translation --model runs/translation-small --data data/domains --split test --baseline runs/translation-small-noconf --option heldout=data/heldout/trumpet --option max_pieces=3 --option seconds=3 --out runs/translation-small/eval
