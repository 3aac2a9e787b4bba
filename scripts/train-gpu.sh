#!/usr/bin/env bash
# The long recipe on one CUDA GPU (issue 15): about 300 epochs of the bundled VGG in minutes.
#
#   scripts/train-gpu.sh OUT_DIR [DATA] [more `emocli train` options, which win over these]
#
# Needs python3 with torch (CUDA), typer, rich, opencv, scikit-learn, pandas and matplotlib,
# as on the project's GPU machines; installs emocli itself with --no-deps. DATA: any FER2013
# source `emocli data` reads (default: ../shared/datasets/fer2013/fer2013-train-publictest.zip).
# Writes OUT_DIR/config.json, metrics.csv and weights/{best,last}.pt (checkpoints every epoch;
# rerun with `python3 -m emocli train --resume OUT_DIR` after an interruption), and OUT_DIR.json
# with the result. Try it on a CPU first:  scripts/train-gpu.sh /tmp/t DATA --subset 2000 --epochs 1
set -euo pipefail
out=${1:?usage: scripts/train-gpu.sh OUT_DIR [DATA] [emocli train options]}
shift
data=../shared/datasets/fer2013/fer2013-train-publictest.zip
if [[ $# -gt 0 && $1 != --* ]]; then data=$1; shift; fi
cd "$(dirname "$0")/.."
python3 -m pip install -q --no-deps --no-build-isolation -e . >/dev/null
python3 -m emocli train --data "$data" \
  --arch vgg --arch-arg width=40 --arch-arg dropout=0.25 \
  --optim nesterov --lr 0.1 --weight-decay 5e-4 --schedule onecycle \
  --epochs 300 --batch-size 256 --label-smoothing 0.1 --ema 0.999 --mixup 0.2 \
  --precision auto --seed 0 -o "$out" --json "$@" > "$out.json"
cat "$out.json"
