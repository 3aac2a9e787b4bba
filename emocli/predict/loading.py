"""Loading a model by name or file onto a runtime, and ensembles. No torch here: the bundled
models run on OpenCV's DNN module, and torch loads only for a PyTorch model."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from emocli.errors import EmocliError, OptionError
from emocli.models.bundled import BUNDLED, DEFAULT_MODEL, RUNTIMES, TTA, model_file, model_parts


def load_model(spec: str | Path | None = None, runtime: str = "auto"):
    """A model file (a `.pt` checkpoint, or a `.onnx` graph from `emocli export`), a bundled
    model by name (see BUNDLED), or several joined by `+` (their networks' probabilities
    averaged: `ensemble+mine.onnx`); None means DEFAULT_MODEL. An existing file wins over a bundled
    name (`model_file`). `runtime`: "auto" runs the bundled models and ONNX files on OpenCV's
    DNN module (no torch) and checkpoints on PyTorch; "torch" runs them on PyTorch, with the
    weights read from the graph (one network's, as `emocli export` writes it); "opencv"
    refuses a checkpoint."""
    if runtime not in RUNTIMES:
        raise OptionError("runtime", f"must be one of {', '.join(RUNTIMES)}, got {runtime!r}")
    name = DEFAULT_MODEL if spec is None else str(spec)
    parts = model_parts(name)
    if len(parts) > 1:  # every network of every part, once, averaged (no early exit)
        loaded = [load_model(part, runtime) for part in parts]
        return Ensemble([n for m in loaded for n in getattr(m, "members", [m])], name)
    path = model_file(name)
    if path is not None:
        return _load_file(path, name, runtime)
    bundled = BUNDLED[name]
    paths = bundled.paths
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        raise EmocliError(f"this build of emocli does not ship the {name!r} model "
                          f"({', '.join(missing)} missing): pass a model file (train one with "
                          "`emocli train`)")
    members = [_load_file(p, name if len(paths) == 1 else f"{name}/{p.stem}", runtime)
               for p in paths]
    if len(members) == 1:
        return members[0]
    return Ensemble(members, name, exit_margin=bundled.exit_margin)


def _load_file(path: Path, name: str, runtime: str):
    if path.suffix.lower() == ".onnx" and runtime != "torch":  # torch reads one from export
        from emocli.predict.dnn import DnnPredictor

        return DnnPredictor(path, name)
    if runtime == "opencv":
        raise OptionError("runtime", f"{path} is a PyTorch checkpoint: export it to ONNX "
                                     "(`emocli export MODEL -o FILE.onnx`) to run it on opencv")
    from emocli.predict.predictor import Predictor

    return Predictor.load(path, name)


def check_predict_args(tta: str, batch_size: int) -> None:
    if tta not in TTA:
        raise OptionError("tta", f"must be one of {', '.join(TTA)}, got {tta!r}")
    if batch_size < 1:
        raise OptionError("batch_size", "must be at least 1")


def ten_crop_corners(side: int, share: float = 0.875) -> tuple[int, list[tuple[int, int]]]:
    """The side of a `share` crop and the (top, left) of the four corner crops and the centre
    one, as torchvision's ten_crop takes them (each is also taken mirrored)."""
    n = round(side * share)
    return n, [(0, 0), (0, side - n), (side - n, 0), (side - n, side - n),
               ((side - n) // 2, (side - n) // 2)]


def plain_average(model):
    """`model` with every member answering for every face: an ensemble without its early exit
    (what one exported graph computes); a single network as it is."""
    return Ensemble(model.members, model.name) if isinstance(model, Ensemble) else model


def cascade(answer, members: int, faces: int, margin: float | None = None) -> np.ndarray:
    """The average of `members` answers, `answer(k, faces)` giving member k's probabilities for
    those face indices, asked in order: after each member but the last, the faces whose average
    so far leads by more than `margin` (`top_margin`) keep it and are not asked about again
    (None: every member answers for every face)."""
    ask = np.arange(faces)
    total = answer(0, ask).copy()
    heard = np.ones(faces, np.float32)
    for k in range(1, members):
        if margin is not None:
            ask = ask[top_margin(total[ask] / k) <= margin]
        if not len(ask):
            break
        total[ask] += answer(k, ask)
        heard[ask] += 1
    return total / heard[:, None]


def top_margin(proba: np.ndarray) -> np.ndarray:
    """How far each row's most likely class leads the next."""
    top = np.partition(proba, -2, axis=1)
    return top[:, -1] - top[:, -2]


class Ensemble:
    """Several networks answering as one: their probabilities (each with its own TTA) averaged.
    With `exit_margin`, a cascade for speed: after each member but the last, a face whose
    average so far puts its top two probabilities more than this apart keeps that average,
    and the later members do not see it (`cascade`)."""

    def __init__(self, members: list, name: str, exit_margin: float | None = None):
        self.members, self.name, self.exit_margin = members, name, exit_margin
        self.classes = members[0].classes
        for m in members[1:]:
            if m.classes != self.classes:
                raise EmocliError(f"{m.name}: its classes {m.classes} differ from "
                                  f"{members[0].name}'s {self.classes}")

    @property
    def runtime(self) -> str:
        return self.members[0].runtime

    def check_classes(self) -> None:
        self.members[0].check_classes()

    def predict_proba(self, images, tta: str = "none", batch_size: int = 256):
        images = np.asarray(images)
        return cascade(lambda k, faces: self.members[k].predict_proba(
            images if len(faces) == len(images) else images[faces], tta, batch_size),
            len(self.members), len(images), self.exit_margin)

    def to(self, device) -> Ensemble:
        for m in self.members:
            m.to(device)
        return self

    def proba_pixels(self, x, tta: str = "none"):
        """Every member's word (a teacher's, for distillation: no early exit)."""
        return sum(m.proba_pixels(x, tta) for m in self.members) / len(self.members)


if TYPE_CHECKING:
    from emocli.predict.dnn import DnnPredictor
    from emocli.predict.predictor import Predictor

    Model = Predictor | DnnPredictor | Ensemble  # what evaluate and annotate accept
