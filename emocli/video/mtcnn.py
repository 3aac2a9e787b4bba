"""MTCNN (Zhang et al., 2016): three small networks in a cascade, the portable face detector.

The weights are the three files inside the pure-Python `facenet-pytorch` wheel
(`facenet_pytorch/data/{pnet,rnet,onet}.pt`, plain state dicts read with `weights_only=True`);
its own code is never imported (it breaks on NumPy 2 and its later releases pin an old torch),
so the networks and the cascade are written here.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn

from emocli.errors import EmocliError
from emocli.video.boxes import nms

WEIGHTS_PACKAGE = "facenet_pytorch"
NETS = ("pnet", "rnet", "onet")
THRESHOLDS = (0.6, 0.7, 0.7)  # per stage, as the paper and facenet-pytorch use them
PYRAMID_FACTOR = 0.709  # each pyramid level halves the area
CELL, STRIDE = 12, 2  # P-Net's window and step on its level
# candidates around a known face for `refine`: shifts (in sides) and sizes
JITTER = [(dx, dy, grow) for dx in (-0.25, 0, 0.25) for dy in (-0.25, 0, 0.25)
          for grow in (0.85, 1.2)]


def weights_dir() -> Path | None:
    """The folder with the three weight files, found without importing facenet_pytorch."""
    spec = importlib.util.find_spec(WEIGHTS_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "data"
    return folder if all((folder / f"{n}.pt").is_file() for n in NETS) else None


def _conv(cin: int, cout: int, k: int) -> tuple[nn.Conv2d, nn.PReLU]:
    return nn.Conv2d(cin, cout, k), nn.PReLU(cout)


class PNet(nn.Module):
    """The proposal network: fully convolutional, a face score and box offsets per 12 px cell."""

    def __init__(self):
        super().__init__()
        self.conv1, self.prelu1 = _conv(3, 10, 3)
        self.conv2, self.prelu2 = _conv(10, 16, 3)
        self.conv3, self.prelu3 = _conv(16, 32, 3)
        self.conv4_1, self.conv4_2 = nn.Conv2d(32, 2, 1), nn.Conv2d(32, 4, 1)

    def forward(self, x):
        x = nn.functional.max_pool2d(self.prelu1(self.conv1(x)), 2, 2, ceil_mode=True)
        x = self.prelu3(self.conv3(self.prelu2(self.conv2(x))))
        return self.conv4_2(x), torch.softmax(self.conv4_1(x), 1)[:, 1]


def _flat(x: torch.Tensor) -> torch.Tensor:
    # the weights came from Caffe through TensorFlow: features flatten in (W, H, C) order
    return x.permute(0, 3, 2, 1).reshape(len(x), -1)


class RNet(nn.Module):
    """The refinement network on 24x24 candidates."""

    def __init__(self):
        super().__init__()
        self.conv1, self.prelu1 = _conv(3, 28, 3)
        self.conv2, self.prelu2 = _conv(28, 48, 3)
        self.conv3, self.prelu3 = _conv(48, 64, 2)
        self.dense4, self.prelu4 = nn.Linear(576, 128), nn.PReLU(128)
        self.dense5_1, self.dense5_2 = nn.Linear(128, 2), nn.Linear(128, 4)

    def forward(self, x):
        pool = nn.functional.max_pool2d
        x = pool(self.prelu1(self.conv1(x)), 3, 2, ceil_mode=True)
        x = pool(self.prelu2(self.conv2(x)), 3, 2, ceil_mode=True)
        x = self.prelu4(self.dense4(_flat(self.prelu3(self.conv3(x)))))
        return self.dense5_2(x), torch.softmax(self.dense5_1(x), 1)[:, 1]


class ONet(nn.Module):
    """The output network on 48x48 candidates: score, box offsets and five landmarks."""

    def __init__(self):
        super().__init__()
        self.conv1, self.prelu1 = _conv(3, 32, 3)
        self.conv2, self.prelu2 = _conv(32, 64, 3)
        self.conv3, self.prelu3 = _conv(64, 64, 3)
        self.conv4, self.prelu4 = _conv(64, 128, 2)
        self.dense5, self.prelu5 = nn.Linear(1152, 256), nn.PReLU(256)
        self.dense6_1, self.dense6_2 = nn.Linear(256, 2), nn.Linear(256, 4)
        self.dense6_3 = nn.Linear(256, 10)

    def forward(self, x):
        pool = nn.functional.max_pool2d
        x = pool(self.prelu1(self.conv1(x)), 3, 2, ceil_mode=True)
        x = pool(self.prelu2(self.conv2(x)), 3, 2, ceil_mode=True)
        x = pool(self.prelu3(self.conv3(x)), 2, 2, ceil_mode=True)
        x = self.prelu5(self.dense5(_flat(self.prelu4(self.conv4(x)))))
        return self.dense6_2(x), self.dense6_3(x), torch.softmax(self.dense6_1(x), 1)[:, 1]


def load_nets(folder: Path | None = None) -> tuple[PNet, RNet, ONet]:
    folder = folder or weights_dir()
    if folder is None:
        raise EmocliError("the mtcnn detector needs the facenet-pytorch wheel, which carries its "
                          "weights: pip install facenet-pytorch==2.5.3")
    nets = (PNet(), RNet(), ONet())
    for name, net in zip(NETS, nets):
        path = folder / f"{name}.pt"
        try:
            net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        except Exception as e:  # a damaged install: name the file, whatever torch raised
            raise EmocliError(f"{path}: not MTCNN weights ({type(e).__name__})") from None
        net.eval()
    return nets


def _tensor(images: np.ndarray) -> torch.Tensor:
    """(N, H, W, 3) RGB uint8 to the networks' input, (x - 127.5) / 128."""
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float()
    return x.sub_(127.5).mul_(0.0078125)


def _square(boxes: np.ndarray) -> np.ndarray:
    """x1, y1, x2, y2 rows made square about their centres (the later stages' input)."""
    side = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
    return np.stack([cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2], 1)


def _regress(boxes: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    size = np.tile(boxes[:, 2:4] - boxes[:, :2] + 1, 2)
    return boxes + offsets * size


def _crops(image: np.ndarray, boxes: np.ndarray, side: int) -> np.ndarray:
    """Each box cut out of the image (zeros beyond its edges), resized to side x side."""
    height, width = image.shape[:2]
    out = np.zeros((len(boxes), side, side, 3), np.uint8)
    for i, (x1, y1, x2, y2) in enumerate(np.rint(boxes).astype(int)):
        w, h = max(x2 - x1, 1), max(y2 - y1, 1)
        patch = np.zeros((h, w, 3), np.uint8)
        sx0, sy0, sx1, sy1 = max(x1, 0), max(y1, 0), min(x2, width), min(y2, height)
        if sx1 > sx0 and sy1 > sy0:
            patch[sy0 - y1:sy1 - y1, sx0 - x1:sx1 - x1] = image[sy0:sy1, sx0:sx1]
        interp = cv2.INTER_AREA if w > side else cv2.INTER_LINEAR
        out[i] = cv2.resize(patch, (side, side), interpolation=interp)
    return out


def _keep(boxes: np.ndarray, scores: np.ndarray, iou: float) -> np.ndarray:
    """NMS on x1, y1, x2, y2 rows."""
    if len(boxes) < 2:
        return np.arange(len(boxes))
    return nms(np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], 1), scores, iou)


def _keep_min(boxes: np.ndarray, scores: np.ndarray, overlap: float) -> np.ndarray:
    """NMS by intersection over the smaller box (the last stage's), best score first."""
    order, keep = list(np.argsort(-scores)), []
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    while order:
        i, order = order[0], np.array(order[1:], int)
        keep.append(i)
        if not len(order):
            break
        wh = (np.minimum(boxes[i, 2:], boxes[order, 2:])
              - np.maximum(boxes[i, :2], boxes[order, :2])).clip(0)
        inter = wh[:, 0] * wh[:, 1]
        order = list(order[inter / np.maximum(np.minimum(areas[i], areas[order]), 1e-6)
                           <= overlap])
    return np.array(keep, int)


class MTCNN:
    """The cascade on one RGB image: boxes (x1, y1, x2, y2), scores, landmarks (N, 5, 2)."""

    def __init__(self, min_face: int = 20, thresholds: tuple[float, float, float] = THRESHOLDS,
                 folder: Path | None = None):
        self.pnet, self.rnet, self.onet = load_nets(folder)
        self.min_face, self.thresholds = min_face, thresholds

    def scales(self, height: int, width: int, sizes: tuple[float, float] | None = None,
               slack: float = 1.5) -> list[float]:
        """The pyramid: a level per face size, from `min_face` (or the smallest of `sizes`,
        less slack) up to the image (or the largest of `sizes`, plus slack)."""
        smallest, largest = (self.min_face, np.inf) if sizes is None else (
            max(self.min_face, sizes[0] / slack), sizes[1] * slack)
        scale, out = CELL / smallest, []
        while min(height, width) * scale >= CELL and scale >= CELL / largest:
            out.append(scale)
            scale *= PYRAMID_FACTOR
        return out

    def _proposals(self, image: np.ndarray, sizes) -> tuple[np.ndarray, np.ndarray]:
        height, width = image.shape[:2]
        boxes, scores = [], []
        for scale in self.scales(height, width, sizes):
            size = (int(width * scale + 1), int(height * scale + 1))
            level = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
            offsets, prob = self.pnet(_tensor(level[None]))
            ys, xs = np.nonzero(prob[0].numpy() >= self.thresholds[0])
            if not len(ys):
                continue
            cells = np.stack([xs, ys], 1).astype(np.float32)
            found = np.concatenate([np.floor((STRIDE * cells + 1) / scale),
                                    np.floor((STRIDE * cells + CELL) / scale)], 1)
            found = _regress(found, offsets[0][:, ys, xs].T.numpy())
            score = prob[0].numpy()[ys, xs]
            keep = _keep(found, score, 0.5)
            boxes.append(found[keep])
            scores.append(score[keep])
        if not boxes:
            return np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
        boxes, scores = np.concatenate(boxes), np.concatenate(scores)
        keep = _keep(boxes, scores, 0.7)
        return boxes[keep], scores[keep]

    @torch.inference_mode()
    def detect(self, image: np.ndarray, sizes: tuple[float, float] | None = None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """`sizes`: the smallest and largest face side sought (default: all from min_face)."""
        boxes, _ = self._proposals(image, sizes)
        return self._refine(image, boxes)

    @torch.inference_mode()
    def refine(self, image: np.ndarray, boxes: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The faces near known boxes (x1, y1, x2, y2), without the proposal pyramid: R- and
        O-Net on candidates shifted and scaled around each box (a face that moved up to about
        half its side since the box was predicted is found)."""
        side = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])[:, None]
        centre = (boxes[:, :2] + boxes[:, 2:]) / 2
        candidates = []
        for dx, dy, grow in JITTER:
            c, half = centre + np.array([dx, dy]) * side, side * grow / 2
            candidates.append(np.concatenate([c - half, c + half], 1))
        # the shifted candidates of one face converge once regressed: one each goes on
        return self._refine(image, np.concatenate(candidates), merge=0.7)

    def _refine(self, image: np.ndarray, boxes: np.ndarray, merge: float | None = None
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """R-Net, then O-Net, on candidate boxes (x1, y1, x2, y2); `merge`: NMS at this IoU
        on R-Net's regressed boxes too."""
        if len(boxes):
            boxes = _square(boxes)
            offsets, scores = self.rnet(_tensor(_crops(image, boxes, 24)))
            ok = scores.numpy() > self.thresholds[1]
            boxes, scores, offsets = boxes[ok], scores.numpy()[ok], offsets.numpy()[ok]
            keep = _keep(boxes, scores, 0.7)
            boxes, scores = _square(_regress(boxes[keep], offsets[keep])), scores[keep]
            if merge is not None:
                boxes = boxes[_keep(boxes, scores, merge)]
        if not len(boxes):
            return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros((0, 5, 2))
        offsets, points, scores = self.onet(_tensor(_crops(image, boxes, 48)))
        ok = scores.numpy() > self.thresholds[2]
        boxes, scores = boxes[ok], scores.numpy()[ok]
        offsets, points = offsets.numpy()[ok], points.numpy()[ok]
        size = boxes[:, 2:4] - boxes[:, :2] + 1
        marks = np.stack([points[:, :5] * size[:, :1] + boxes[:, :1] - 1,
                          points[:, 5:] * size[:, 1:] + boxes[:, 1:2] - 1], 2)
        boxes = _regress(boxes, offsets)
        keep = _keep_min(boxes, scores, 0.7)
        return boxes[keep].astype(np.float32), scores[keep], marks[keep].astype(np.float32)
