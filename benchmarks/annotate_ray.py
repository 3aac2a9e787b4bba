"""`emocli annotate FOLDER` locally and on a local Ray (as many workers as cores), side by side
in one run: whole processes (Ray's start included), files per minute, medians of N interleaved
runs. The folder holds copies of the dev photos and clips (../shared/media), `--copies` times.

Run: python benchmarks/annotate_ray.py [--copies 2] [--repeats 1]
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import SHARED

FILES = [SHARED / "media" / "justin.jpg", SHARED / "media" / "test.mp4",
         *(SHARED / "media" / "faces" / n for n in (
             "fnp_multiface.jpg", "dlib_2007_007763.jpg", "pyfeat_multi_face.jpg",
             "fr_two_people.jpg", "intel_classroom.gif", "intel_asl_thanks.mkv"))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--copies", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        fold = Path(tmp) / "fold"
        fold.mkdir()
        for i in range(args.copies):
            for f in FILES:
                shutil.copy(f, fold / f"{i}-{f.name}")
        count = len(FILES) * args.copies
        times = {"local": [], "ray": []}
        for r in range(args.repeats):  # interleaved, so that noise hits both alike
            for backend in times:
                out = Path(tmp) / f"out-{backend}-{r}"
                tic = time.perf_counter()
                subprocess.run([sys.executable, "-m", "emocli", "annotate", str(fold), "-o",
                                str(out), "--backend", backend, "--no-audio"], check=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"})
                times[backend].append(time.perf_counter() - tic)
        med = {k: statistics.median(v) for k, v in times.items()}
        print(f"{count} files ({args.copies} copies of {len(FILES)} dev photos and clips), "
              f"{os.cpu_count()} cores, medians of {args.repeats}:")
        for backend, seconds in med.items():
            print(f"  {backend:6s} {seconds:6.1f} s  {60 * count / seconds:5.1f} files/min")
        print(f"  ray / local = {med['local'] / med['ray']:.2f}x the files per minute")


if __name__ == "__main__":
    main()
