"""Face detectors behind one Protocol, registered by name; `auto` picks the best one installed.

Every detector returns `Detections` in the coordinates of the frame it was given, already
cleaned by `boxes.clean` (score threshold, NMS, nested boxes removed). Nothing is downloaded:
YuNet's weights are compiled into the `yuface` wheel, MTCNN's ship inside facenet-pytorch's, and
the Haar cascade inside OpenCV's.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from emocli.errors import EmocliError, OptionError
from emocli.models.names import PLUGIN_GROUPS
from emocli.models.registry import Registry
from emocli.video.boxes import Detections, clean, xywh, xyxy

AUTO_ORDER = ("yunet", "mtcnn", "haar")  # best first; `auto` takes the first one installed
MAX_WORK_PIXELS = 1280 * 720  # a full pass never works on more pixels than 720p
SIZE_SLACK = 1.5  # a detector told the face sizes searches this much smaller and larger


class Detector(Protocol):
    """Frame (BGR uint8) in, faces out."""

    name: str
    min_size: int  # the smallest face (px, at the resolution it works on) it finds reliably
    birth_score: float  # a new face is shown once a detection of it has this score
    # optional: `redetect(frame, boxes) -> Detections`, the faces near these (predicted) boxes,
    # for region passes of all faces in one call; with `known_floor`, `redetect(frame, boxes,
    # floor)` keeps scores down to it for faces not yet sure or followed back in held frames;
    # with `redetect`, `propose(frame)` and `confirm(frame, proposals, found) -> Detections`
    # split a full pass, so that the later half skips the faces already found by `redetect`;
    # `stride`: it pads its input to multiples of this (and costs what the padded image
    # costs), so region passes fit their sides to it;
    # `parallel`: True where two instances detect at the same time in two threads, each at
    # full speed (then a full pass can run ahead, beside the region passes)

    def detect(self, frame: np.ndarray, sizes: tuple[float, float] | None = None) -> Detections:
        """`sizes`: the smallest and largest side (px) of the faces sought, where a region pass
        knows them; a detector may search only scales near them."""
        ...


@dataclass(frozen=True)
class DetectorSpec:
    name: str
    build: Callable[..., Detector]
    description: str
    available: Callable[[], bool]


DETECTORS: Registry[DetectorSpec] = Registry("detector", plugins=PLUGIN_GROUPS["detector"])


def register_detector(name: str, description: str, available: Callable[[], bool] = lambda: True):
    """Register `build(model_path_or_None) -> Detector` (a plugin module calls this on import)."""
    def wrap(build):
        DETECTORS.add(name, DetectorSpec(name, build, description, available))
        return build
    return wrap


def list_detectors(installed_only: bool = False) -> list[str]:
    """Registered detectors, built-ins first in order of preference."""
    return [n for n in DETECTORS if not installed_only or DETECTORS.get(n).available()]


def resolve_detector_name(name: str, model: Path | None = None) -> str:
    """`auto` becomes the best installed detector (YuNet from --detector-model counts)."""
    if name != "auto":
        if name not in DETECTORS:
            raise EmocliError(f"unknown detector {name!r}: choose from auto, "
                              f"{', '.join(list_detectors())}")
        return name
    if model is not None:
        return "haar" if Path(model).suffix.lower() == ".xml" else "yunet"
    return next(n for n in AUTO_ORDER if DETECTORS.get(n).available())


def create_detector(name: str = "auto", model: Path | None = None) -> Detector:
    name = resolve_detector_name(name, model)
    spec = DETECTORS.get(name)
    if model is None and not spec.available():
        raise EmocliError(f"the {name} detector is not installed here: {spec.description}")
    return spec.build(model)


def haar_notice(fallback: bool) -> str:
    """The one line shown whenever the Haar cascade runs: it misses what the others find."""
    why = ("neither yuface nor facenet-pytorch is installed (pip install facenet-pytorch)"
           if fallback else "chosen with --detector haar")
    return (f"the haar detector is in use ({why}): it misses turned heads and small faces; "
            "mtcnn and yunet find them")


def working_scale(shape: tuple[int, ...], min_face: float, min_size: int) -> float:
    """The scale of a full pass: faces of `min_face` px become `min_size` px (the smallest the
    detector finds), never upscaled, and never more than MAX_WORK_PIXELS."""
    height, width = shape[:2]
    by_face = min_size / max(min_face, 1.0)
    by_area = (MAX_WORK_PIXELS / (height * width)) ** 0.5
    return min(1.0, by_face, by_area)


def resized(frame: np.ndarray, scale: float, fast: bool = False) -> np.ndarray:
    """`frame` scaled; `fast` interpolates linearly (13x cheaper than area averaging on a
    region, which detects as well at the 2-3x reductions of region passes)."""
    if scale == 1.0:
        return frame
    size = (max(1, round(frame.shape[1] * scale)), max(1, round(frame.shape[0] * scale)))
    interp = cv2.INTER_AREA if scale < 1 and not fast else cv2.INTER_LINEAR
    return cv2.resize(frame, size, interpolation=interp)


def _has(module: str) -> Callable[[], bool]:
    return lambda: importlib.util.find_spec(module) is not None


@register_detector("yunet", "YuNet (libfacedetection), weights built into the yuface wheel; "
                            "with --detector-model, OpenCV's FaceDetectorYN on that ONNX file",
                   _has("yuface"))
class YuNetDetector:
    name, min_size, birth_score = "yunet", 16, 0.7
    floor = 0.5  # scores below this are never kept
    stride = 32  # measured: 96x96 takes 1.2 ms, 97x97 2.1 ms, as 128x128 does
    parallel = True

    def __init__(self, model: Path | None = None):
        if model is None:
            self._raw = _yuface_detect()
        else:
            self._raw = _onnx_yunet(Path(model))

    def detect(self, frame: np.ndarray, sizes: tuple[float, float] | None = None) -> Detections:
        # rows: score (0-100), box, 5 landmarks
        rows = np.asarray(self._raw(frame), dtype=np.float32)
        if not len(rows):
            return Detections.empty()
        scores = rows[:, 0] / 100.0
        landmarks = rows[:, 5:15].reshape(-1, 5, 2)
        return clean(Detections(rows[:, 1:5], scores, landmarks), self.floor)


def _yuface_detect() -> Callable[[np.ndarray], np.ndarray]:
    """yuface's detector, its OpenMP pool held to one thread: more threads made a 596x336 frame
    no faster (32 vs 33 ms) but kept a second core spinning, away from decoding, encoding and
    the classifier. yuface bundles its own libgomp, which reads OMP_NUM_THREADS once, on load."""
    before = os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = "1"
    try:
        from yuface.yuface import detect
    finally:
        if before is None:
            del os.environ["OMP_NUM_THREADS"]
        else:
            os.environ["OMP_NUM_THREADS"] = before
    # the binding reads a region's view as if its rows were packed: it finds nothing there
    return _without_gil() or (lambda frame: detect(np.ascontiguousarray(frame)))


def _without_gil() -> Callable[[np.ndarray], np.ndarray] | None:
    """libfacedetection's own `facedetect_cnn`, from the library inside the yuface wheel, called
    through ctypes, which lets go of the GIL: yuface's binding holds it while it detects (a
    1280x720 full pass: 150-220 ms in which decoding, labelling and encoding wait). It reads
    a region of a frame in place (rows `step` bytes apart). None where the library or its
    symbol is not there (another yuface build): then yuface's binding serves."""
    import ctypes

    import yuface

    try:
        lib = ctypes.CDLL(str(Path(yuface.__file__).parent / "libfacedetection.so"))
        fn = lib[_FACEDETECT_CNN]
    except (OSError, AttributeError):
        return None
    fn.restype = ctypes.POINTER(ctypes.c_int)
    fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_int]

    def detect(frame: np.ndarray) -> np.ndarray:
        if frame.ndim != 3 or frame.shape[2] != 3:  # C reads 3 bytes a pixel: past the end
            raise RuntimeError("3-channel image must be 3 dims")  # yuface's binding's refusal
        if frame.dtype != np.uint8 or frame.strides[1:] != (3, 1) or frame.strides[0] <= 0:
            frame = np.ascontiguousarray(frame, np.uint8)
        out = np.empty(_RESULT_BYTES, np.uint8)
        with _YUFACE_LOCK if not _YUFACE_WARM.is_set() else contextlib.nullcontext():
            found = fn(out.ctypes.data, frame.ctypes.data, frame.shape[1], frame.shape[0],
                       frame.strides[0])[0]
        _YUFACE_WARM.set()
        # per face 16 shorts: score (0-100), box, 5 landmarks, one unused
        return out[4:4 + 32 * found].view(np.int16).reshape(found, 16)

    return detect


# its first call fills the library's static weights: one thread makes it; later calls may run
# at once in several threads (each has its own buffers: 480 calls at once, all right)
_YUFACE_LOCK, _YUFACE_WARM = threading.Lock(), threading.Event()
# libfacedetection's `int* facedetect_cnn(unsigned char* result, unsigned char* bgr, int width,
# int height, int step)`, C++-mangled; it writes at most 1024 faces (4 + 1024 x 32 bytes)
_FACEDETECT_CNN = "_Z14facedetect_cnnPhS_iii"
_RESULT_BYTES = 0x9000


def _onnx_yunet(model: Path) -> Callable[[np.ndarray], np.ndarray]:
    """cv2.FaceDetectorYN on a user's ONNX file, as rows in yuface's layout."""
    if not model.is_file():
        raise EmocliError(f"{model}: no such detector model file")
    try:
        net = cv2.FaceDetectorYN.create(str(model), "", (320, 320), 0.5, 0.3, 5000)
        net.setInputSize((64, 64))  # another network loads as well, and fails on its first frame
        net.detect(np.zeros((64, 64, 3), np.uint8))
    except cv2.error:
        raise EmocliError(f"{model}: not a YuNet ONNX model") from None

    def detect(frame: np.ndarray) -> np.ndarray:
        frame = np.ascontiguousarray(frame)
        net.setInputSize((frame.shape[1], frame.shape[0]))
        _, faces = net.detect(frame)
        if faces is None:
            return np.zeros((0, 16), np.float32)
        # OpenCV: x, y, w, h, 5 landmarks, score (0-1); yuface: score (0-100), box, landmarks
        return np.column_stack([faces[:, 14] * 100, faces[:, :14], np.zeros(len(faces))])

    return detect


def _mtcnn_weights() -> bool:
    from emocli.video.mtcnn import weights_dir

    return weights_dir() is not None


@register_detector("mtcnn", "MTCNN, written in emocli, with the weights inside the pure-Python "
                            "facenet-pytorch wheel (every platform)", _mtcnn_weights)
class MTCNNDetector:
    name, min_size, birth_score = "mtcnn", 20, 0.95
    floor = 0.9
    # a face not yet sure (dim or small), or followed back through held frames, is kept down to
    # O-Net's own threshold: the darkened 1080p crowd has its 13 faces in 104 of 105 frames
    # with it, in 41 without
    known_floor = 0.7
    parallel = True  # each instance has networks of its own

    def __init__(self, model: Path | None = None):
        if model is not None:
            raise OptionError("detector_model", "is not taken by the mtcnn detector")
        from emocli.video.mtcnn import MTCNN

        self.net = MTCNN(self.min_size, bgr=True)

    def detect(self, frame: np.ndarray, sizes: tuple[float, float] | None = None) -> Detections:
        return self._detections(*self.net.detect(frame, sizes))

    def propose(self, frame: np.ndarray) -> np.ndarray:
        """A full pass in two halves, for a pipeline that finds its known faces by `redetect`
        in between: first P-Net's candidate boxes over the frame, ..."""
        return self.net.propose(frame)

    def confirm(self, frame: np.ndarray, proposals: np.ndarray, found: np.ndarray) -> Detections:
        """... then the faces among them, but for those on the faces `found` (x, y, w, h)."""
        return self._detections(*self.net.confirm(frame, proposals, xyxy(found)))

    def redetect(self, frame: np.ndarray, boxes: np.ndarray, floor: float | None = None
                 ) -> Detections:
        """The faces near `boxes` (x, y, w, h): R- and O-Net on candidates around each, scores
        from `floor` (default: the detector's)."""
        return self._detections(*self.net.refine(frame, xyxy(boxes)), floor)

    def _detections(self, boxes, scores, marks, floor: float | None = None) -> Detections:
        return clean(Detections(xywh(boxes), scores, marks),
                     self.floor if floor is None else floor)


@register_detector("haar", "OpenCV's bundled frontal-face Haar cascade (no landmarks; misses "
                           "turned heads)")
class HaarDetector:
    # the cascade's own window is 24 px; its level weights were 2.7-9.6 on faces and mostly
    # below 3 on false detections in the dev clips
    name, min_size, birth_score = "haar", 24, 2.5
    floor = -np.inf  # its level weights are no probabilities; neighbours do the filtering
    parallel = True

    def __init__(self, model: Path | None = None):
        default = cv2.data.haarcascades + "haarcascade_frontalface_default.xml"
        path = str(model) if model else default
        if model is not None and not Path(model).is_file():
            raise EmocliError(f"{model}: no such detector model file")
        try:
            self.cascade = cv2.CascadeClassifier(path)
        except (cv2.error, SystemError):  # OpenCV's parse error surfaces as either
            self.cascade = None
        if self.cascade is None or self.cascade.empty():
            raise EmocliError(f"{path}: not a Haar cascade file")

    def detect(self, frame: np.ndarray, sizes: tuple[float, float] | None = None) -> Detections:
        gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) if frame.ndim == 3 else frame
        if min(gray.shape) < self.min_size:
            return Detections.empty()
        low, high = (self.min_size, 0) if sizes is None else (
            max(self.min_size, int(sizes[0] / SIZE_SLACK)), int(sizes[1] * SIZE_SLACK) + 1)
        boxes, _, weights = self.cascade.detectMultiScale3(
            gray, scaleFactor=1.1, minNeighbors=5, minSize=(low, low), maxSize=(high, high),
            outputRejectLevels=True)
        if len(boxes) == 0:
            return Detections.empty()
        return clean(Detections(np.asarray(boxes, np.float32),
                                np.asarray(weights, np.float32).reshape(-1)), self.floor)
