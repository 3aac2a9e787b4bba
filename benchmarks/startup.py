"""Start-up, side by side (medians of N interleaved runs, seconds, and peak memory of one run):
the command line's floor (`python -c "import typer, rich"`), `--version` and `--help` (issue 14:
<= 0.3 s each), and one photo labelled end to end (issue 24: <= 1.0 s and <= 300 MiB), by the
command line and by `emocli.analyze`, on the default OpenCV runtime and on PyTorch (the bundled
models' .pt weights, as before issue 24); and the photo with `--detector mtcnn` (what `auto`
takes where yuface has no wheel) on its cached ONNX graphs and on PyTorch (onnx hidden, so
that the cascade runs its torch networks, as before).

Run: python benchmarks/startup.py [--repeats 7]
"""

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import SHARED

PHOTO = SHARED / "media" / "justin.jpg"
OUT = Path(tempfile.mkdtemp(prefix="emocli-startup-")) / "x.jpg"
EMOCLI = [sys.executable, "-m", "emocli"]


def _analyze(runtime: str) -> list[str]:
    return [sys.executable, "-c", f"import emocli; emocli.analyze({str(PHOTO)!r}, "
            f"model=emocli.load_model(runtime={runtime!r}))"]


def _mtcnn_photo(hide_onnx: bool) -> list[str]:
    argv = ["emocli", "annotate", str(PHOTO), "-o", str(OUT), "--detector", "mtcnn"]
    hide = "sys.modules['onnx'] = None; " if hide_onnx else ""
    return [sys.executable, "-c", f"import sys; {hide}from emocli.cli import main; "
            f"sys.argv = {argv!r}; main()"]


COMMANDS = {
    'python -c "import typer, rich"': [sys.executable, "-c", "import typer, rich"],
    "emocli --version": [*EMOCLI, "--version"],
    "emocli --help": [*EMOCLI, "--help"],
    "emocli annotate --help": [*EMOCLI, "annotate", "--help"],
    "emocli train --help": [*EMOCLI, "train", "--help"],
    "annotate justin.jpg -o x.jpg": [*EMOCLI, "annotate", str(PHOTO), "-o", str(OUT)],
    "annotate justin.jpg --detector mtcnn": _mtcnn_photo(False),
    "  the same, mtcnn on torch": _mtcnn_photo(True),
    "emocli.analyze(justin.jpg)": _analyze("auto"),
    "emocli.analyze(justin.jpg) on torch": _analyze("torch"),
}
# each photo job against the same job on PyTorch
TORCH_TWIN = {"annotate justin.jpg -o x.jpg": "emocli.analyze(justin.jpg) on torch",
              "annotate justin.jpg --detector mtcnn": "  the same, mtcnn on torch",
              "  the same, mtcnn on torch": "  the same, mtcnn on torch",
              "emocli.analyze(justin.jpg)": "emocli.analyze(justin.jpg) on torch",
              "emocli.analyze(justin.jpg) on torch": "emocli.analyze(justin.jpg) on torch"}
PEAK = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")


def _run(cmd: list[str]) -> None:
    OUT.unlink(missing_ok=True)
    subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True)


def peak_mib(cmd: list[str]) -> float:
    OUT.unlink(missing_ok=True)
    done = subprocess.run([sys.executable, "-c", PEAK, *cmd], capture_output=True, text=True,
                          check=True)
    return int(done.stdout.split()[-1]) / 1024  # ru_maxrss is in KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    times = {name: [] for name in COMMANDS}
    _run(COMMANDS["annotate justin.jpg --detector mtcnn"])  # converts MTCNN's graphs once
    for _ in range(args.repeats):  # interleaved, so that noise hits all alike
        for name, cmd in COMMANDS.items():
            tic = time.perf_counter()
            _run(cmd)
            times[name].append(time.perf_counter() - tic)
    floor = statistics.median(next(iter(times.values())))
    for name, values in times.items():
        med = statistics.median(values)
        line = f"{name:38s} {med:6.3f} s  ({med / floor:4.1f}x the floor"
        if name in TORCH_TWIN:
            twin = statistics.median(times[TORCH_TWIN[name]])
            line += f", {med / twin:4.2f}x torch's; peak {peak_mib(COMMANDS[name]):5.0f} MiB"
        print(line + ")")
    OUT.unlink(missing_ok=True)
    OUT.parent.rmdir()


if __name__ == "__main__":
    main()
