"""Start-up of the command line, side by side with its floor (medians of N runs, seconds):
`python -c "import typer, rich"` against `emocli --version`, `emocli --help` and
`emocli annotate --help`. Target (issue 14): <= 0.3 s each on 2 cores.

Run: python benchmarks/startup.py [--repeats 7]
"""

import argparse
import statistics
import subprocess
import sys
import time

COMMANDS = {
    'python -c "import typer, rich"': [sys.executable, "-c", "import typer, rich"],
    "emocli --version": [sys.executable, "-m", "emocli", "--version"],
    "emocli --help": [sys.executable, "-m", "emocli", "--help"],
    "emocli annotate --help": [sys.executable, "-m", "emocli", "annotate", "--help"],
    "emocli train --help": [sys.executable, "-m", "emocli", "train", "--help"],
    "emocli export --help": [sys.executable, "-m", "emocli", "export", "--help"],
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    times = {name: [] for name in COMMANDS}
    for _ in range(args.repeats):  # interleaved, so that noise hits all alike
        for name, cmd in COMMANDS.items():
            tic = time.perf_counter()
            subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True)
            times[name].append(time.perf_counter() - tic)
    floor = statistics.median(next(iter(times.values())))
    for name, values in times.items():
        med = statistics.median(values)
        print(f"{name:32s} {med:6.3f} s  ({med / floor:4.1f}x the floor)")


if __name__ == "__main__":
    main()
