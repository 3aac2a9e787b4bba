"""A PyTorch model turning 48x48 gray faces into the 7 class probabilities, with optional
test-time augmentation (training, distillation, export, and checkpoints given by the user)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from emocli.data.labels import EMOTIONS
from emocli.data.preprocess import as_batch, normalize
from emocli.errors import EmocliError
from emocli.models.checkpoint import checkpoint_meta, load_checkpoint, model_from_checkpoint
from emocli.predict.loading import check_predict_args, ten_crop_corners


def ten_crop(x: torch.Tensor, side: int) -> list[torch.Tensor]:
    """The ten crops of (N, C, side, side) (torchvision's ten_crop, without loading
    torchvision)."""
    n, corners = ten_crop_corners(side)
    crops = [x[..., y:y + n, x0:x0 + n] for y, x0 in corners]
    return crops + [c.flip(-1) for c in crops]


class Predictor:
    """A loaded model with the preprocessing it was trained with."""

    def __init__(self, ckpt: dict, name: str):
        self.name = name
        # channels-last: 1.7x faster on the CPU for these nets (3.1 -> 1.9 ms a face)
        self.model = model_from_checkpoint(ckpt, name).to(memory_format=torch.channels_last)
        self.classes = list(ckpt["classes"])
        self.norm = {k: float(ckpt["normalization"][k]) for k in ("mean", "std")}
        self.input_size = int(ckpt["input_size"])
        self.meta = checkpoint_meta(ckpt)  # what an export writes beside the weights

    runtime = "torch"

    @classmethod
    def load(cls, path: str | Path, name: str | None = None) -> Predictor:
        return cls(load_checkpoint(path), name or str(path))

    def check_classes(self) -> None:
        if self.classes != list(EMOTIONS):
            raise EmocliError(f"{self.name}: its classes {self.classes} differ from the data's "
                              f"{list(EMOTIONS)}")

    def to(self, device: torch.device) -> Predictor:
        self.model = self.model.to(device)
        return self

    def proba_pixels(self, x: torch.Tensor, tta: str = "none") -> torch.Tensor:
        """Probabilities for a float (N, 1, 48, 48) batch of [0, 1] pixels on the model's
        device (a training batch, for distillation)."""
        return self._proba((x - self.norm["mean"]) / self.norm["std"], tta)

    def _logits_to_proba(self, x: torch.Tensor) -> torch.Tensor:
        x = x.contiguous(memory_format=torch.channels_last)
        return F.softmax(self.model(x).float(), dim=1)  # float32 even under bf16 autocast

    def _proba(self, x: torch.Tensor, tta: str) -> torch.Tensor:
        if tta == "none":
            return self._logits_to_proba(x)
        if tta == "flip":
            return (self._logits_to_proba(x) + self._logits_to_proba(x.flip(-1))) / 2
        side = self.input_size
        batch = torch.cat([F.interpolate(c, size=(side, side), mode="bilinear",
                                         align_corners=False) for c in ten_crop(x, side)])
        return self._logits_to_proba(batch).view(10, len(x), -1).mean(0)

    @torch.no_grad()
    def predict_proba(self, images: np.ndarray, tta: str = "none",
                      batch_size: int = 256) -> np.ndarray:
        """(N, 48, 48) uint8 faces -> (N, 7) probabilities in FER2013 label order."""
        check_predict_args(tta, batch_size)
        out = []
        for lo in range(0, len(images), batch_size):
            out.append(self._proba(normalize(as_batch(images[lo:lo + batch_size]), self.norm),
                                   tta))
        if not out:
            return np.zeros((0, len(self.classes)), dtype=np.float32)
        return torch.cat(out).float().numpy()
