"""MTCNN (Zhang et al., 2016): three small networks in a cascade, the portable face detector.

The weights are the three files inside the pure-Python `facenet-pytorch` wheel
(`facenet_pytorch/data/{pnet,rnet,onet}.pt`, plain state dicts read with `weights_only=True`);
its own code is never imported (it breaks on NumPy 2 and its later releases pin an old torch),
so the networks (`mtcnn_nets`) and the cascade (here) are written in emocli. The first use
converts the networks to ONNX graphs, cached in the emocli home; OpenCV runs them, 2x faster
than torch on R- and O-Net and without its 2.5 s import.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import shutil
import threading
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from emocli.errors import EmocliError
from emocli.fileio import atomic_path
from emocli.home import home
from emocli.video.boxes import nms, overlaps, xywh

WEIGHTS_PACKAGE = "facenet_pytorch"
NETS = ("pnet", "rnet", "onet")
THRESHOLDS = (0.6, 0.7, 0.7)  # per stage, as the paper and facenet-pytorch use them
PYRAMID_FACTOR = 0.709  # each pyramid level halves the area
# the six finest levels (faces up to 5.6 times the smallest: the small and dim ones) are
# area-averaged from the image, the coarser ones each from the level before (large faces):
# 5 of a 720p pyramid's 11 reads of the whole image saved; from the level before all along,
# two dim faces of the darkened crowd test went unfound
DIRECT_LEVELS = 6
CELL, STRIDE = 12, 2  # P-Net's window and step on its level
# candidates around a known face for `refine`: shifts (in sides) and sizes; first the box
# itself (most faces are where the tracker predicted them), the shifts only for faces not found
SIZES = (0.85, 1.2)
CENTRED = [(0, 0, grow) for grow in SIZES]
SHIFTED = [(dx, dy, grow) for dx in (-0.25, 0, 0.25) for dy in (-0.25, 0, 0.25)
           for grow in SIZES if dx or dy]
FOUND_IOU = 0.3  # a known box overlapping a face this much is that face, found
# a proposal whose area lies this much inside a face already found is that face's: skipped
ON_FOUND = 0.5


def weights_dir() -> Path | None:
    """The folder with the three weight files, found without importing facenet_pytorch."""
    spec = importlib.util.find_spec(WEIGHTS_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "data"
    return folder if all((folder / f"{n}.pt").is_file() for n in NETS) else None


class _DnnNet:
    """One network on OpenCV's DNN module: float32 NCHW array in, its outputs out."""

    def __init__(self, graph: bytes, outputs: tuple[str, ...]):
        self.net = cv2.dnn.readNetFromONNX(np.frombuffer(graph, np.uint8))
        self.outputs = list(outputs)
        self.lock = threading.Lock()  # a Net keeps its input and blobs between calls

    def __call__(self, x: np.ndarray) -> list[np.ndarray]:
        with self.lock:
            self.net.setInput(x)
            return list(self.net.forward(self.outputs))


OUTPUTS = (("offsets", "probs"), ("offsets", "probs"), ("offsets", "points", "probs"))
GRAPH_VERSION = 1  # part of the cache key: raise it when mtcnn_nets changes the graphs


def _digest(folder: Path) -> str:
    data = hashlib.sha256(f"emocli-mtcnn-{GRAPH_VERSION}".encode())
    for name in NETS:
        data.update((folder / f"{name}.pt").read_bytes())
    return data.hexdigest()[:16]


@functools.lru_cache(maxsize=4)
def _graphs(folder: Path, digest: str) -> tuple[bytes, ...]:
    """The ONNX graphs of these weights: from the cache in the emocli home, else converted
    (torch loads, once per machine: about 3 s) and cached there."""
    cache = home() / "mtcnn" / digest
    paths = [cache / f"{name}.onnx" for name in NETS]
    try:
        return tuple(path.read_bytes() for path in paths)
    except OSError:
        pass
    from emocli.video.mtcnn_nets import onnx_graphs

    graphs = tuple(onnx_graphs(folder))
    try:
        for path, graph in zip(paths, graphs):
            with atomic_path(path) as tmp:
                tmp.write_bytes(graph)
    except EmocliError:  # a read-only home: convert again next time
        pass
    return graphs


def load_nets(folder: Path | None = None, runtime: str = "auto"
              ) -> list[Callable[[np.ndarray], list[np.ndarray]]]:
    """P-, R- and O-Net as functions of float32 NCHW arrays. `runtime`: "opencv" (OpenCV's DNN
    module on ONNX graphs converted from the weights, no torch once they are cached; what
    "auto" takes) or "torch"."""
    folder = folder or weights_dir()
    if folder is None:
        raise EmocliError("the mtcnn detector needs the facenet-pytorch wheel, which carries its "
                          "weights: pip install facenet-pytorch==2.5.3")
    if runtime not in ("auto", "opencv", "torch"):
        raise EmocliError(f"unknown mtcnn runtime {runtime!r}: choose auto, opencv or torch")
    if runtime == "torch" or importlib.util.find_spec("onnx") is None:  # onnx: to convert
        from emocli.video.mtcnn_nets import torch_runners

        return torch_runners(folder)
    try:
        digest = _digest(folder)
    except OSError as e:
        raise EmocliError(f"{folder}: MTCNN weights cannot be read ({e.strerror})") from None
    def nets() -> list[_DnnNet]:
        return [_DnnNet(graph, outs) for graph, outs in zip(_graphs(folder, digest), OUTPUTS)]
    try:
        return nets()
    except cv2.error:  # a cache damaged by hand: made again from the weights
        _graphs.cache_clear()
        shutil.rmtree(home() / "mtcnn" / digest, ignore_errors=True)
        return nets()


def _blob(images: np.ndarray, bgr: bool = False) -> np.ndarray:
    """(N, H, W, 3) RGB (or `bgr`) uint8 to the networks' input, (x - 127.5) / 128, float32
    NCHW in RGB order."""
    x = (images[..., ::-1] if bgr else images).transpose(0, 3, 1, 2).astype(np.float32)
    x -= 127.5
    x *= 0.0078125
    return x


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


def _around(boxes: np.ndarray, jitter: list[tuple[float, float, float]]) -> np.ndarray:
    """Candidates (x1, y1, x2, y2) around each box: shifted by (dx, dy) sides, `grow` times
    its side; the shifted candidates of one face converge once regressed."""
    side = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])[:, None]
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    candidates = [np.zeros((0, 4), np.float32)]
    for dx, dy, grow in jitter:
        c, half = centre + np.array([dx, dy]) * side, side * grow / 2
        candidates.append(np.concatenate([c - half, c + half], 1))
    return np.concatenate(candidates)


def _keep(boxes: np.ndarray, scores: np.ndarray, iou: float) -> np.ndarray:
    """NMS on x1, y1, x2, y2 rows."""
    if len(boxes) < 2:
        return np.arange(len(boxes))
    return nms(xywh(boxes), scores, iou)


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
    """The cascade on one RGB image (`bgr`: BGR, as OpenCV decodes it, which saves converting
    whole frames when only crops of them are looked at): boxes (x1, y1, x2, y2), scores,
    landmarks (N, 5, 2)."""

    def __init__(self, min_face: int = 20, thresholds: tuple[float, float, float] = THRESHOLDS,
                 folder: Path | None = None, runtime: str = "auto", bgr: bool = False):
        self.pnet, self.rnet, self.onet = load_nets(folder, runtime)
        self.min_face, self.thresholds, self.bgr = min_face, thresholds, bgr

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

    def propose(self, image: np.ndarray, sizes: tuple[float, float] | None = None
                ) -> np.ndarray:
        """P-Net's candidate boxes (x1, y1, x2, y2) over the pyramid: the first half of
        `detect`."""
        height, width = image.shape[:2]
        boxes, scores, level = [], [], image
        for i, scale in enumerate(self.scales(height, width, sizes)):
            size = (int(width * scale + 1), int(height * scale + 1))
            level = cv2.resize(image if i < DIRECT_LEVELS else level, size,
                               interpolation=cv2.INTER_AREA)
            offsets, probs = self.pnet(_blob(level[None], self.bgr))
            prob = probs[0, 1]
            ys, xs = np.nonzero(prob >= self.thresholds[0])
            if not len(ys):
                continue
            cells = np.stack([xs, ys], 1).astype(np.float32)
            found = np.concatenate([np.floor((STRIDE * cells + 1) / scale),
                                    np.floor((STRIDE * cells + CELL) / scale)], 1)
            found = _regress(found, offsets[0][:, ys, xs].T)
            score = prob[ys, xs]
            keep = _keep(found, score, 0.5)
            boxes.append(found[keep])
            scores.append(score[keep])
        if not boxes:
            return np.zeros((0, 4), np.float32)
        boxes, scores = np.concatenate(boxes), np.concatenate(scores)
        return boxes[_keep(boxes, scores, 0.7)]

    def detect(self, image: np.ndarray, sizes: tuple[float, float] | None = None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """`sizes`: the smallest and largest face side sought (default: all from min_face)."""
        return self.confirm(image, self.propose(image, sizes))

    def confirm(self, image: np.ndarray, proposals: np.ndarray, found: np.ndarray | None = None
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """R- and O-Net on P-Net's `proposals`: the second half of `detect`. `found`: faces
        (x1, y1, x2, y2) already found in this image; the proposals lying mostly on one are
        not looked at again (a tracked crowd's faces hold about half of a pass's proposals)."""
        if found is not None and len(found) and len(proposals):
            _, inside = overlaps(xywh(proposals), xywh(found))
            proposals = proposals[inside.max(1) < ON_FOUND]
        return self._refine(image, proposals)

    def refine(self, image: np.ndarray, boxes: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The faces near known boxes (x1, y1, x2, y2), without the proposal pyramid: R- and
        O-Net on candidates scaled around each box, then shifted around the boxes where no face
        was found (a face that moved up to about half its side since the box was predicted is
        found; a crowd's faces mostly where predicted, at a ninth of the cost)."""
        found = self._refine(image, _around(boxes, CENTRED), merge=0.7)
        if len(boxes) and len(found[0]):
            iou, _ = overlaps(xywh(boxes), xywh(found[0]))
            boxes = boxes[iou.max(1) < FOUND_IOU]
        if not len(boxes):
            return found
        more = self._refine(image, _around(boxes, SHIFTED), merge=0.7)
        boxes, scores, marks = (np.concatenate(pair) for pair in zip(found, more))
        keep = _keep_min(boxes, scores, 0.7)
        return boxes[keep], scores[keep], marks[keep]

    def _refine(self, image: np.ndarray, boxes: np.ndarray, merge: float | None = None
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """R-Net, then O-Net, on candidate boxes (x1, y1, x2, y2); `merge`: NMS at this IoU
        on R-Net's regressed boxes too."""
        if len(boxes):
            boxes = _square(boxes)
            offsets, probs = self.rnet(_blob(_crops(image, boxes, 24), self.bgr))
            ok = probs[:, 1] > self.thresholds[1]
            boxes, scores, offsets = boxes[ok], probs[ok, 1], offsets[ok]
            keep = _keep(boxes, scores, 0.7)
            boxes, scores = _square(_regress(boxes[keep], offsets[keep])), scores[keep]
            if merge is not None:
                boxes = boxes[_keep(boxes, scores, merge)]
        if not len(boxes):
            return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros((0, 5, 2))
        offsets, points, probs = self.onet(_blob(_crops(image, boxes, 48), self.bgr))
        ok = probs[:, 1] > self.thresholds[2]
        boxes, scores, offsets, points = boxes[ok], probs[ok, 1], offsets[ok], points[ok]
        size = boxes[:, 2:4] - boxes[:, :2] + 1
        marks = np.stack([points[:, :5] * size[:, :1] + boxes[:, :1] - 1,
                          points[:, 5:] * size[:, 1:] + boxes[:, 1:2] - 1], 2)
        boxes = _regress(boxes, offsets)
        keep = _keep_min(boxes, scores, 0.7)
        return boxes[keep].astype(np.float32), scores[keep], marks[keep].astype(np.float32)
