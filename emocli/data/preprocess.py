"""The one preprocessing, shared by training and inference: 48x48 gray uint8 faces to the
normalised float tensor a network takes."""

from __future__ import annotations

import numpy as np
import torch


def as_batch(images: np.ndarray) -> torch.Tensor:
    """(N, H, W) uint8 images as an (N, 1, H, W) uint8 tensor (no copy where possible)."""
    return torch.from_numpy(np.ascontiguousarray(images)).unsqueeze(1)


def fit_normalization(batch: torch.Tensor) -> dict[str, float]:
    """Mean and standard deviation of the training pixels, scaled to [0, 1]."""
    pixels = batch.float() / 255
    return {"mean": float(pixels.mean()), "std": float(pixels.std())}


def normalize(batch: torch.Tensor, norm: dict[str, float]) -> torch.Tensor:
    """uint8 (N, 1, H, W) to float32, `(x / 255 - mean) / std`, on the batch's device."""
    return batch.float().div_(255).sub_(norm["mean"]).div_(norm["std"])
