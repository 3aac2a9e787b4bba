"""The models that ship with emocli, by name, described as torchvision describes its weights
(what each is, what it scores, how it was made), and the test-time augmentations every model
takes. Plain data, so that the command line can show them without loading torch."""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path

from emocli.errors import EmocliError


@dataclass(frozen=True)
class BundledModel:
    name: str
    # ONNX graphs in emocli/assets, each one network with its checkpoint metadata (`emocli
    # export FILE.pt -o FILE.onnx --half`): OpenCV runs them without torch, and PyTorch reads
    # its weights from them (`load_checkpoint`); several: their probabilities are averaged
    files: tuple[str, ...]
    architecture: str
    parameters: int
    accuracy: dict[str, float] = field(default_factory=dict)  # FER2013 PublicTest, by --tta
    recipe: str = "docs/model-card.md#training-recipe"
    # an ensemble's early exit (`Ensemble.exit_margin`): a face its networks so far are this
    # sure of skips the rest (chosen on PublicTest with its cost a face in view; model card)
    exit_margin: float | None = None

    @property
    def paths(self) -> list[Path]:
        return [bundled_model_path(f) for f in self.files]


BUNDLED = {m.name: m for m in (
    BundledModel("default", ("default.onnx",), "resnet depth=18 width=32 (stem stride 2, dropout "
                 "0.2): sixth.onnx (two sessions on 2 CPU cores) taught 36 more epochs by "
                 "ensemble (session 24; its best epoch)",
                 2_796_263, {"none": 0.7052, "flip": 0.7080, "tencrop": 0.7077}),
    BundledModel("ensemble", ("sixth.onnx", "second.onnx", "default.onnx"),
                 "three networks, probabilities averaged, asked in turn: resnet depth=18 "
                 "width=32 over two sessions (sixth.onnx, session 23's last epoch), vgg "
                 "width=40, distilled (second.onnx, session 14) and default.onnx (sixth.onnx "
                 "taught by the ensemble of session 23, session 24); a face the networks so "
                 "far are sure of skips the rest",
                 10_205_805, {"none": 0.7080, "flip": 0.7122, "tencrop": 0.7060}, exit_margin=0.2),
)}
DEFAULT_MODEL = "ensemble"  # the most accurate; see docs/model-card.md
TTA = ("none", "flip", "tencrop")
RUNTIMES = ("auto", "opencv", "torch")  # auto: opencv for bundled models and .onnx files


def model_file(spec: str) -> Path | None:
    """The file a model spec names, or None when it names a bundled model. An existing file wins
    over a bundled name, so `./default` still reads that file."""
    if Path(spec).exists():
        return Path(spec)
    if spec not in BUNDLED:
        raise EmocliError(f"{spec}: no such model file (bundled models: {', '.join(BUNDLED)})")
    return None


def model_parts(spec: str) -> list[str]:
    """The models a spec names: `a.onnx+b.onnx+ensemble` names several, whose networks answer
    together (an existing file whose name holds a plus is one model)."""
    if "+" not in spec or Path(spec).exists():
        return [spec]
    parts = spec.split("+")
    if not all(parts):
        raise EmocliError(f"{spec}: an empty name in a combination of models (a.onnx+b.onnx)")
    return parts


def model_files(spec: str) -> list[Path]:
    """The user's files a spec names (bundled models left out): the inputs an output must not
    overwrite. Raises for a name that is neither a file nor bundled."""
    return [path for part in model_parts(spec) if (path := model_file(part)) is not None]


def bundled_model_path(file: str = "default.onnx") -> Path:
    return Path(str(files("emocli") / "assets" / file))


def describe_bundled() -> str:
    """`default (67.8% on FER2013 PublicTest), ensemble (68.4%)`, for help texts."""
    return ", ".join(f"{m.name} ({100 * m.accuracy['none']:.1f}%"
                     f"{' on FER2013 PublicTest' if i == 0 else ''})"
                     for i, m in enumerate(BUNDLED.values()))
