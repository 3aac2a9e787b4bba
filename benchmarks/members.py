"""Which networks to average: every combination of the candidate members on FER2013 PublicTest
(the val split; never the withheld PrivateTest), clean, with flip averaging, and darkened as
benchmarks/light.py darkens it, side by side in one run. Each member's probabilities are
computed once; a combination is their plain average (the bundled ensemble's early exit costs
it no PublicTest accuracy: model card).
Then, for the best combination, the early exit (the ensemble's cascade) with each of its members
first, at each margin: the share of faces that leave after the first member, the answers that
changes, the accuracy and the cost a face on OpenCV (what annotate pays: the exit is chosen
with it in view).
Target (issue 25): the combination >= 0.715, a single network >= 0.700, darkened within 3 points.

Run: python benchmarks/members.py [MODEL ...] [--top 15] [--exit m0+m1]
     (default: the bundled ensemble's members; a run's best.pt adds a candidate)
"""

import argparse
import itertools

import numpy as np
from _common import FER_ZIP, median_seconds
from light import darken

from emocli.data.readers import read_source
from emocli.models import BUNDLED
from emocli.predict.loading import cascade, load_model

MARGINS = (0.6, 0.5, 0.4, 0.3, 0.25, 0.2)
VIEWS = ("none", "flip", "dark")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("models", nargs="*", default=[str(p) for p in BUNDLED["ensemble"].paths])
    parser.add_argument("--top", type=int, default=15, help="combinations to show, best first")
    parser.add_argument("--exit", default=None,
                        help="the combination whose early exit to show, e.g. m0+m2 (default: "
                             "the best)")
    args = parser.parse_args()
    faces, labels = read_source(FER_ZIP).split("val")
    views = {"clean": faces, "dark": darken(faces)}
    proba, models = {}, {spec: load_model(spec) for spec in args.models}
    for spec, model in models.items():
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
    chosen = rows[0][3] if args.exit is None else [
        next(spec for spec, short in names.items() if short == m) for m in args.exit.split("+")]
    cost = {m: cost_ms(models[m], faces) for m in chosen}
    exits(chosen, proba, labels, names, cost)


def cost_ms(model, faces: np.ndarray) -> float:
    """Milliseconds a face of `model` (on OpenCV's DNN module, as bundled graphs load) with one
    thread, in batches of 16 (as annotate classifies a crowd)."""
    import cv2

    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        model.predict_proba(faces[:16])
        return 1000 * median_seconds(lambda: model.predict_proba(faces[:16]), 5) / 16
    finally:
        cv2.setNumThreads(threads)


def exits(members, proba, labels, names, cost) -> None:
    """The early exit (`Ensemble`'s cascade) with each member first and the others cheapest
    first: at each margin, the faces that leave after the first member, the answers that
    changes against the plain average, the accuracy, and the cost a face (each member's for
    the faces it is asked about)."""
    print("cost a face (OpenCV, 1 thread, batches of 16): "
          + ", ".join(f"{names[m]} {cost[m]:.2f} ms" for m in members))
    mean = {v: np.mean([proba[m][v] for m in members], 0) for v in VIEWS}
    print(f"early exit ({'+'.join(names[m] for m in members)}; none / flip / dark):")
    print(f"  {'order':14s} {'margin':>6s} {'exit first':>15s} {'changed':>12s} "
          f"{'accuracy':>22s} {'ms a face':>9s}")
    print(f"  {'-':14s} {'none':>6s} {'':15s} {'':12s} "
          + " ".join(f"{(mean[v].argmax(1) == labels).mean():.4f}" for v in VIEWS)
          + f" {sum(cost.values()):9.2f}")
    for first in members:
        order = [first, *sorted((m for m in members if m != first), key=cost.get)]
        for margin in MARGINS:
            asked = {v: [] for v in VIEWS}
            answers = {v: cascade(_replay([proba[m][v] for m in order], asked[v]), len(order),
                                  len(labels), margin).argmax(1) for v in VIEWS}
            left = {v: 1 - (asked[v][1] if len(asked[v]) > 1 else 0) / len(labels)
                    for v in VIEWS}
            ms = sum(cost[m] * n / len(labels) for m, n in zip(order, asked["none"]))
            print(f"  {'+'.join(names[m] for m in order):14s} {margin:6.2f} "
                  + "/".join(f"{left[v]:4.0%}" for v in VIEWS) + " "
                  + "/".join(f"{int((answers[v] != mean[v].argmax(1)).sum()):3d}"
                             for v in VIEWS) + " "
                  + " ".join(f"{(answers[v] == labels).mean():.4f}" for v in VIEWS)
                  + f" {ms:9.2f}")


def _replay(answers: list[np.ndarray], asked: list[int]):
    """`cascade`'s `answer` from probabilities computed before, noting how many faces each
    member is asked about."""
    def answer(k: int, faces: np.ndarray) -> np.ndarray:
        asked.append(len(faces))
        return answers[k][faces]
    return answer


if __name__ == "__main__":
    main()
