"""Which networks to average: every combination of the candidate members on FER2013 PublicTest
(the val split; never the withheld PrivateTest), clean, with flip averaging, and darkened as
benchmarks/light.py darkens it, side by side in one run. Each member's probabilities are
computed once; a combination is their plain average (the early exit changes no PublicTest
answer at the margin the bundled ensemble uses: model card).
Then, for the best combination, its best single member first, the early exit at each margin:
the share of faces that keep the first member's answer, and the answers that changes.
Target (issue 25): the combination >= 0.715, a single network >= 0.700, darkened within 3 points.

Run: python benchmarks/members.py [MODEL ...] [--top 15]
     (default: the bundled ensemble's members; a run's best.pt adds a candidate)
"""

import argparse
import itertools

import numpy as np
from _common import FER_ZIP
from light import darken

from emocli.data.readers import read_source
from emocli.models import BUNDLED
from emocli.predict.loading import load_model, top_margin

MARGINS = (0.6, 0.5, 0.4, 0.3, 0.25, 0.2)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("models", nargs="*", default=[str(p) for p in BUNDLED["ensemble"].paths])
    parser.add_argument("--top", type=int, default=15, help="combinations to show, best first")
    args = parser.parse_args()
    faces, labels = read_source(FER_ZIP).split("val")
    views = {"clean": faces, "dark": darken(faces)}
    proba = {}
    for spec in args.models:
        model = load_model(spec)
        proba[spec] = {"none": model.predict_proba(views["clean"]),
                       "flip": model.predict_proba(views["clean"], tta="flip"),
                       "dark": model.predict_proba(views["dark"])}

    def accuracy(members, view):
        mean = np.mean([proba[m][view] for m in members], 0)
        return float((mean.argmax(1) == labels).mean())

    names = {spec: f"m{i}" for i, spec in enumerate(args.models)}
    for spec, short in names.items():
        print(f"{short}: {spec}")
    rows = []
    for size in range(1, len(args.models) + 1):
        for members in itertools.combinations(args.models, size):
            rows.append((*(accuracy(members, v) for v in ("none", "flip", "dark")), members))
    rows.sort(key=lambda row: (-row[0], -row[1]))
    print(f"{'members':24s} {'none':>7s} {'flip':>7s} {'dark':>7s} {'gap':>6s}")
    for none, flip, dark, members in rows[:args.top]:
        print(f"{'+'.join(names[m] for m in members):24s} {none:7.4f} {flip:7.4f} {dark:7.4f} "
              f"{100 * (none - dark):5.1f}pt")
    best = max(rows[0][3], key=lambda m: accuracy([m], "none"))
    members = [best, *(m for m in rows[0][3] if m != best)]
    print(f"early exit of {'+'.join(names[m] for m in members)} (none):")
    mean = np.mean([proba[m]["none"] for m in members], 0)
    first = proba[best]["none"]
    for margin in MARGINS:
        sure = top_margin(first) > margin
        answers = np.where(sure, first.argmax(1), mean.argmax(1))
        print(f"  margin {margin:4.2f}: {sure.mean():4.0%} exit early, "
              f"{int((answers != mean.argmax(1)).sum())} answers changed, "
              f"accuracy {(answers == labels).mean():.4f}")


if __name__ == "__main__":
    main()
