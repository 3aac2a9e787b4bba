"""A model exported to ONNX (`emocli export`: preprocessing and softmax inside) run by OpenCV's
DNN module: how the bundled models answer without loading torch (2.5 s of start-up here)."""

from __future__ import annotations

import threading
from pathlib import Path

import cv2
import numpy as np

from emocli.data.labels import EMOTIONS
from emocli.errors import EmocliError
from emocli.predict.loading import check_predict_args, ten_crop_corners

INPUT_SIZE = 48


class DnnPredictor:
    """Gray 48x48 faces in, the 7 FER2013 probabilities out (in `EMOTIONS` order, as every
    graph `emocli export` writes), with the same test-time augmentations as the PyTorch one."""

    runtime = "opencv"
    input_size = INPUT_SIZE

    def __init__(self, path: str | Path, name: str | None = None):
        self.name, self.classes = name or str(path), list(EMOTIONS)
        self._lock = threading.Lock()  # one OpenCV Net runs one forward at a time
        try:
            self.net = cv2.dnn.readNetFromONNX(str(path))
            shape = self._forward(np.zeros((1, INPUT_SIZE, INPUT_SIZE), np.float32)).shape
            if shape == (1, len(EMOTIONS)) and not self._same_at_any_batch_size():
                # a built net keeps its fused layers: `enableFusion(False)` on it mends nothing
                self.net = cv2.dnn.readNetFromONNX(str(path))
                self.net.enableFusion(False)
        except cv2.error:
            shape = None
        if shape != (1, len(EMOTIONS)):
            raise EmocliError(f"{path}: not an emocli face model (an ONNX graph that takes gray "
                              f"48x48 faces and gives {len(EMOTIONS)} probabilities, as "
                              "`emocli export` writes)")

    def check_classes(self) -> None:
        """Its classes are FER2013's by construction."""

    def predict_proba(self, images: np.ndarray, tta: str = "none",
                      batch_size: int = 256) -> np.ndarray:
        """(N, 48, 48) uint8 faces -> (N, 7) float32 probabilities."""
        check_predict_args(tta, batch_size)
        x = np.asarray(images, dtype=np.float32)
        if not len(x):
            return np.zeros((0, len(self.classes)), dtype=np.float32)
        views = [x] if tta == "none" else [x, x[:, :, ::-1]] if tta == "flip" else _ten_crop(x)
        return np.mean([np.concatenate([self._forward(v[lo:lo + batch_size])
                                        for lo in range(0, len(v), batch_size)])
                        for v in views], axis=0)

    def _same_at_any_batch_size(self) -> bool:
        """Whether the net answers the same once the batch size changes. OpenCV (4.14) fuses a
        residual sum into the convolution before it and, after a batch of another size, keeps
        answering from stale buffers (a ResNet's probabilities 0.4 off, at every size since);
        unfused it answers right, about 4% slower, so only such graphs go without fusion."""
        faces = np.random.default_rng(0).uniform(0, 255, (2, INPUT_SIZE, INPUT_SIZE))
        faces = faces.astype(np.float32)
        one, both, other = self._forward(faces[:1]), self._forward(faces), self._forward(faces[1:])
        return bool(np.allclose(both, np.concatenate([one, other]), atol=1e-5))

    def _forward(self, x: np.ndarray) -> np.ndarray:
        with self._lock:
            self.net.setInput(np.ascontiguousarray(x[:, None]))
            return self.net.forward().copy()


def _ten_crop(x: np.ndarray) -> list[np.ndarray]:
    """The ten crops of (N, side, side) faces, each resized back to the side (bilinear)."""
    side = x.shape[-1]
    n, corners = ten_crop_corners(side)
    crops = [_resize(x[:, y:y + n, x0:x0 + n], side) for y, x0 in corners]
    return crops + [c[:, :, ::-1] for c in crops]


def _resize(faces: np.ndarray, side: int) -> np.ndarray:
    # OpenCV resizes up to 512 channels at once: the faces as the channels of one image
    chunks = [cv2.resize(np.ascontiguousarray(faces[lo:lo + 512].transpose(1, 2, 0)),
                         (side, side), interpolation=cv2.INTER_LINEAR)
              for lo in range(0, len(faces), 512)]
    return np.concatenate([c.reshape(side, side, -1).transpose(2, 0, 1) for c in chunks])
