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
    files: tuple[str, ...]  # in emocli/assets; several: their probabilities are averaged
    architecture: str
    parameters: int
    accuracy: dict[str, float] = field(default_factory=dict)  # FER2013 PublicTest, by --tta
    recipe: str = "docs/model-card.md#training-recipe"
    # an ensemble's early exit (`Ensemble.exit_margin`): a face the first network is this sure
    # of skips the rest (the lowest margin that changes no PublicTest answer; model card)
    exit_margin: float | None = None

    @property
    def paths(self) -> list[Path]:
        return [bundled_model_path(f) for f in self.files]

    @property
    def onnx_paths(self) -> list[Path]:
        """The same networks as ONNX graphs (`emocli export FILE.pt -o FILE.onnx --half`),
        what the bundled models run on by default (OpenCV's DNN module: no torch)."""
        return [p.with_suffix(".onnx") for p in self.paths]


BUNDLED = {m.name: m for m in (
    BundledModel("default", ("default.pt",), "vgg width=40 (stages 4, fc 3, dropout 0.2), "
                 "third.pt distilled from the earlier pair's flip-averaged answers with light "
                 "augmentation (session 14)",
                 4_613_279, {"none": 0.6854, "flip": 0.6871, "tencrop": 0.6804}),
    BundledModel("ensemble", ("default.pt", "second.pt", "third.pt"),
                 "default.pt, a vgg width=32 and the earlier default (third.pt), probabilities "
                 "averaged (a face default.pt is sure of keeps its answer)", 13_031_973,
                 {"none": 0.6888, "flip": 0.6941, "tencrop": 0.6835}, exit_margin=0.3),
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


def bundled_model_path(file: str = "default.pt") -> Path:
    return Path(str(files("emocli") / "assets" / file))


def describe_bundled() -> str:
    """`default (67.8% on FER2013 PublicTest), ensemble (68.4%)`, for help texts."""
    return ", ".join(f"{m.name} ({100 * m.accuracy['none']:.1f}%"
                     f"{' on FER2013 PublicTest' if i == 0 else ''})"
                     for i, m in enumerate(BUNDLED.values()))
