"""MTCNN on OpenCV's DNN module: the same faces as the PyTorch networks, graphs converted once
and cached in the emocli home, no torch once they are."""

from __future__ import annotations

import subprocess
import sys

import cv2
import numpy as np
import pytest
from media_truth import FACES, MEDIA, PHOTOS

from emocli.errors import EmocliError
from emocli.home import home
from emocli.video import mtcnn
from emocli.video.mtcnn import MTCNN, NETS, load_nets, weights_dir

PHOTO = MEDIA / "justin.jpg"  # one face

pytestmark = pytest.mark.skipif(weights_dir() is None, reason="facenet-pytorch not installed")


@pytest.fixture
def fresh():
    """No graphs kept in memory from another test: what a new process sees."""
    mtcnn._graphs.cache_clear()
    yield
    mtcnn._graphs.cache_clear()


def _cache() -> list:
    return sorted(home().glob("mtcnn/*/*.onnx"))


def _rgb(path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


@pytest.mark.parametrize("photo", list(PHOTOS), ids=lambda p: p.name)
def test_opencv_and_torch_networks_find_the_same_faces(photo):
    image = _rgb(photo)
    (boxes, scores, marks), (tboxes, tscores, tmarks) = (
        MTCNN(runtime=r).detect(image) for r in ("opencv", "torch"))
    assert len(boxes) == len(tboxes)
    assert np.abs(boxes - tboxes).max(initial=0) < 0.05  # pixels
    assert np.abs(scores - tscores).max(initial=0) < 1e-4
    assert np.abs(marks - tmarks).max(initial=0) < 0.05


WITH_FACES = [p for p, n in PHOTOS.items() if n][:3]


@pytest.mark.parametrize("photo", WITH_FACES, ids=lambda p: p.name)
def test_bgr_input_finds_exactly_what_rgb_input_finds(photo):
    """The detector hands MTCNN OpenCV's BGR frames (no whole-frame conversion per call)."""
    bgr = cv2.imread(str(photo))
    boxes = np.array([[20, 20, 120, 140], [60, 40, 200, 190]], np.float32)
    for stage in ("detect", "refine"):
        args = () if stage == "detect" else (boxes,)
        ours = getattr(MTCNN(bgr=True), stage)(bgr, *args)
        theirs = getattr(MTCNN(), stage)(_rgb(photo), *args)
        assert stage == "refine" or len(ours[0]) >= 1
        for a, b in zip(ours, theirs):
            np.testing.assert_array_equal(a, b)


def test_graphs_are_converted_once_and_read_from_the_cache(fresh, monkeypatch):
    assert _cache() == []
    MTCNN()
    files = _cache()
    assert [f.stem for f in files] == sorted(NETS)
    before = [f.read_bytes() for f in files]
    mtcnn._graphs.cache_clear()

    def no_conversion(folder):
        raise AssertionError("converted again")
    monkeypatch.setattr("emocli.video.mtcnn_nets.onnx_graphs", no_conversion)
    boxes, _, _ = MTCNN().detect(_rgb(PHOTO))
    assert len(boxes) == 1
    assert [f.read_bytes() for f in _cache()] == before
    assert not list(home().glob("mtcnn/*/.*"))  # no temporary file left


def test_a_home_that_cannot_be_written_still_detects(fresh, tmp_path, monkeypatch):
    (tmp_path / "file").write_text("not a folder")
    monkeypatch.setenv("EMOCLI_HOME", str(tmp_path / "file" / "home"))
    boxes, _, _ = MTCNN().detect(_rgb(PHOTO))
    assert len(boxes) == 1


def test_a_damaged_cache_is_made_again(fresh):
    MTCNN()
    pnet = next(f for f in _cache() if f.stem == "pnet")
    good = pnet.read_bytes()
    pnet.write_bytes(b"garbage")
    mtcnn._graphs.cache_clear()
    boxes, _, _ = MTCNN().detect(_rgb(PHOTO))
    assert len(boxes) == 1
    assert pnet.read_bytes() == good


def test_without_onnx_the_torch_networks_run(fresh, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)
    boxes, _, _ = MTCNN().detect(_rgb(PHOTO))
    assert len(boxes) == 1
    assert _cache() == []


def test_an_unknown_runtime_is_one_error():
    with pytest.raises(EmocliError, match="unknown mtcnn runtime 'tf'"):
        load_nets(runtime="tf")


@pytest.mark.parametrize("runtime", ["auto", "torch"])
def test_damaged_weights_name_the_file(runtime, fresh, tmp_path):
    for name in NETS:
        (tmp_path / f"{name}.pt").write_bytes(b"")
    with pytest.raises(EmocliError, match=f"{tmp_path / 'pnet.pt'}: not MTCNN weights"):
        load_nets(tmp_path, runtime=runtime)


def test_a_photo_with_mtcnn_loads_no_torch_once_the_graphs_are_cached(tmp_path):
    code = ("import sys\nfrom emocli.cli import main\nsys.argv = ['emocli', 'annotate', "
            f"{str(PHOTO)!r}, '-o', {str(tmp_path / 'x.jpg')!r}, "
            "'--detector', 'mtcnn']\n"
            "try:\n    main()\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
            "heavy = ('torch', 'torchvision', 'onnx', 'scipy', 'sklearn', 'pandas')\n"
            "print(sorted(m for m in heavy if m in sys.modules))\n")
    first, second = (subprocess.run([sys.executable, "-c", code], capture_output=True,
                                    text=True, timeout=300) for _ in range(2))
    assert first.returncode == 0, first.stderr
    assert "torch" in first.stdout.strip().splitlines()[-1]  # the conversion
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip().splitlines()[-1] == "[]"
    assert (tmp_path / "x.jpg").is_file()


def test_refine_finds_a_known_face_where_predicted_and_one_that_moved(monkeypatch):
    """The box as predicted first (two sizes); the shifted candidates only where no face was
    found: a face that moved a third of its side, or a box where no face is."""
    net, image = MTCNN(), _rgb(PHOTO)
    (face,), _, _ = net.detect(image)
    calls = []
    refine_stage = net._refine
    monkeypatch.setattr(net, "_refine", lambda im, boxes, merge=None: calls.append(len(boxes))
                        or refine_stage(im, boxes, merge))
    side = face[2] - face[0]
    empty = np.array([0, 0, image.shape[1] / 4, image.shape[0] / 4], np.float32)
    for known, shifted in (([face], []), ([face + 0.35 * side], [16]), ([face, empty], [16])):
        calls.clear()
        boxes, scores, marks = net.refine(image, np.stack(known))
        assert calls == [2 * len(known), *shifted]
        assert len(boxes) == 1 and scores[0] > 0.9 and marks.shape == (1, 5, 2)
        assert np.abs(boxes[0] - face).max() < 0.1 * side


def test_a_split_pass_skips_the_faces_already_found_and_finds_the_others(monkeypatch):
    """`detect` is `propose` then `confirm`; told the faces already found, `confirm` gives R-Net
    fewer proposals and finds the other faces, as `detect` found them."""
    photo = FACES / "dlib_2007_007763.jpg"
    net, image = MTCNN(), _rgb(photo)
    boxes, _, _ = net.detect(image)
    assert len(boxes) >= PHOTOS[photo]  # 7 faces (and a low-scored box the detector drops)
    proposals = net.propose(image)
    np.testing.assert_array_equal(net.confirm(image, proposals)[0], boxes)
    seen = []
    rnet = net.rnet
    monkeypatch.setattr(net, "rnet", lambda x: seen.append(len(x)) or rnet(x))
    order = np.argsort(boxes[:, 0])  # the left half of the row found already
    known, others = boxes[order[:3]], boxes[order[3:]]
    found, _, _ = net.confirm(image, proposals, known)
    assert seen[0] < len(proposals)
    assert len(found) == len(others)
    assert np.abs(found[np.argsort(found[:, 0])] - others).max() < 1.0  # pixels
