#!/usr/bin/env bash
# Equal-budget ablations of the Jukebox `small` VQ-VAE (docs/results.md, Jukebox): each
# variant trains MINUTES from scratch on data/jukebox with the shipped recipe (lr 1e-3,
# batch 8), one after the other (never two at once on a small machine), then prints the
# last validation SC (dB) and codes in use per level from each run's meta.json.
#
#   bash scripts/ablate_jukebox_vqvae.sh                       # the default variants
#   VARIANTS="base:lr=1e-3 wide:lr=1e-3,width=48" bash scripts/ablate_jukebox_vqvae.sh
set -euo pipefail
. .venv/bin/activate
DATA=${DATA:-data/jukebox}
R=${R:-runs/ablate-jukebox-vqvae}
MINUTES=${MINUTES:-6}
THREADS=${THREADS:-2}
VARIANTS=${VARIANTS:-"base:lr=1e-3 spectral2:lr=1e-3,spectral_weight=2.0 codes1024:lr=1e-3,codes=1024 depth4:lr=1e-3,depth=4"}
if [ ! -f "$DATA/manifest.json" ]; then
  echo "No data set at $DATA: make it as scripts/train_jukebox_small.sh does." >&2
  exit 2
fi
for variant in $VARIANTS; do
  name=${variant%%:*}
  SETS=()
  IFS=, read -ra kvs <<< "${variant#*:}"
  for kv in "${kvs[@]}"; do SETS+=(--set "$kv"); done
  latentmusic train jukebox --model vqvae --preset small --data "$DATA" --out "$R/$name" \
    "${SETS[@]}" --minutes "$MINUTES" --steps 100000 --batch-size 8 --val-every 50 \
    --ckpt-every 100000 --threads "$THREADS" --no-progress
done
python - "$R" $VARIANTS <<'EOF'
import json, sys
from pathlib import Path

root = Path(sys.argv[1])
print(f"{'variant':<12} {'steps':>5}  SC dB bottom/middle/top   codes used")
for variant in sys.argv[2:]:
    name = variant.split(":", 1)[0]
    meta = json.loads((root / name / "meta.json").read_text())
    m = meta["metrics"]
    sc = " / ".join(f"{m[f'val/l{i}/sc_db']:.2f}" for i in range(3))
    used = " / ".join(f"{m[f'val/l{i}/used']:.0f}" for i in range(3))
    print(f"{name:<12} {meta['steps']:>5}  {sc:<24} {used}")
EOF
