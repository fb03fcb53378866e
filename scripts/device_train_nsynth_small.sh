#!/usr/bin/env bash
# Continue the NSynth WaveNet autoencoder (`small` preset, the paper's system) on a rented GPU
# for a few minutes, and leave the exported model under $OUT. Prepared here, run there:
#
#   python scripts/pack_notes.py pack data/notes-fluidr3 .gpu/notes --seconds 1.75 --max-valid 200
#   # wheels the GPU image lacks (soundfile, cffi, pycparser, soxr) in .whl/; then, via the
#   # device tool, with carry [.gpu, .whl]:
#   MINUTES=6 bash scripts/device_train_nsynth_small.sh
#
# A CPU rehearsal of the same path (tiny preset, CPU, 20 steps):
#   OUT=/tmp/out REHEARSAL=1 bash scripts/device_train_nsynth_small.sh
# Environment: MINUTES, BATCH, LR, WORKERS, INIT, OUT, REHEARSAL, PRESET (small; small-pitch
# grows the INIT autoencoder into the pitch-conditioned one and trains that).
set -euo pipefail
OUT=${OUT:?set OUT to the folder that comes back}
export PYTHONUNBUFFERED=1
if [ -z "${REHEARSAL:-}" ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site:$PWD/src
  nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
  PY=python3
else
  PY=.venv/bin/python
fi
"$PY" -c "import torch, lightning; print('torch', torch.__version__, 'lightning', lightning.__version__, 'cuda', torch.cuda.is_available())"
DATA=/tmp/lm-notes
rm -rf "$DATA" /tmp/lm-run
"$PY" scripts/pack_notes.py unpack .gpu/notes "$DATA"
INIT=${INIT:-models/nsynth-small}
if [ -n "${REHEARSAL:-}" ]; then
  RUN=(--preset tiny --steps 20 --accelerator cpu --precision 32-true --val-every 10 --ckpt-every 10)
  INIT_ARGS=()
else
  # Base lr 5e-4 from the INIT model's step, x0.3 after 10,000 more steps, x0.1 after 20,000
  # (the schedule counts the model's own steps, so the boundaries follow where it starts).
  if [ ! -f "$INIT/meta.json" ]; then
    echo "INIT must be a model folder with a meta.json (e.g. models/nsynth-small): $INIT" >&2
    exit 2
  fi
  STEP=$("$PY" -c "import json, sys; print(json.load(open(sys.argv[1]))['steps'])" "$INIT/meta.json")
  RUN=(--preset "${PRESET:-small}" --steps 200000 --minutes "${MINUTES:-6}" --accelerator gpu
       --precision bf16-mixed --val-every 500 --ckpt-every 1000 --lr "${LR:-5e-4}"
       --set "lr_decay_steps=$((STEP + 10000)),$((STEP + 20000))")
  INIT_ARGS=(--init "$INIT")
fi
start=$(date +%s)
"$PY" -m latentmusic.cli.main train nsynth --data "$DATA" --out /tmp/lm-run \
  --batch-size "${BATCH:-32}" --data-workers "${WORKERS:-8}" --no-progress \
  "${RUN[@]}" "${INIT_ARGS[@]}"
echo "trained in $(( $(date +%s) - start )) s"
mkdir -p "$OUT/model"
cp /tmp/lm-run/best/* "$OUT/model/"
cp /tmp/lm-run/logs/csv/metrics.csv "$OUT/metrics.csv"
tail -n 3 "$OUT/metrics.csv"
ls -la "$OUT" "$OUT/model"
