#!/usr/bin/env bash
# Install emocli from this checkout into a fresh venv of another CPython (default 3.13, from
# pyenv) and annotate the dev photos with the default detector, printing the detector and the
# face counts against the counts by eye, then time `emocli annotate justin.jpg` as a new process
# (MTCNN's networks, converted to ONNX by the first photo, are read from the emocli home).
# Not run in CI: pip downloads a torch for that Python.
#
#   scripts/check-python.sh [VERSION] [VENV_DIR]     e.g. scripts/check-python.sh 3.13
set -euo pipefail
version=${1:-3.13}
venv=${2:-/tmp/emocli-py${version}}
cd "$(dirname "$0")/.."
python=$(pyenv prefix "$(pyenv versions --bare | grep -E "^${version//./\\.}(\.|$)" | tail -1)")/bin/python
"$python" -m venv "$venv"
"$venv/bin/pip" install -q --upgrade pip >/dev/null
"$venv/bin/pip" install -q . 2>&1 | grep -v '^WARNING: Location' || true
"$venv/bin/python" --version
"$venv/bin/emocli" --version
cd tests
EMOCLI_HOME=$(mktemp -d) "$venv/bin/python" - <<'PY'
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from media_truth import PHOTOS

from emocli.video import annotate_image, create_detector

detector = create_detector("auto")
print(f"detector: {detector.name}")
exact = 0
with tempfile.TemporaryDirectory() as tmp:
    for photo, truth in PHOTOS.items():
        found = len(annotate_image(photo, Path(tmp) / "out.png", None, detector=detector).rows)
        exact += found == truth
        print(f"  {photo.name:28s} {found} faces (by eye: {truth})")
print(f"photos with the exact count: {exact} of {len(PHOTOS)}")
emocli = Path(sys.executable).with_name("emocli")
photo = next(iter(PHOTOS))
with tempfile.TemporaryDirectory() as tmp:
    for run in ("first", "second", "third"):  # the graphs were cached by the photos above
        tic = time.perf_counter()
        done = subprocess.run([emocli, "annotate", photo, "-o", Path(tmp) / "x.jpg", "--json"],
                              capture_output=True, text=True, check=True, env=os.environ)
        print(f"  emocli annotate {photo.name}, {run} run: {time.perf_counter() - tic:.2f} s, "
              f"detector {json.loads(done.stdout)['detector']}")
PY
