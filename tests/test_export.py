"""`emocli export`: a run's checkpoint made bundled-size, and ONNX graphs checked on real faces."""

from __future__ import annotations

import json
import sys

import cv2
import numpy as np
import onnx
import pytest
import torch
from conftest import run

from emocli.data.labels import EMOTIONS
from emocli.models import BUNDLED
from emocli.predict import load_model
from emocli.predict.loading import plain_average


@pytest.fixture(scope="module")
def faces(fer) -> np.ndarray:
    """300 real PublicTest faces."""
    return fer.split("val")[0][:300]


def onnx_proba(path, images: np.ndarray) -> np.ndarray:
    net = cv2.dnn.readNetFromONNX(str(path))
    net.setInput(images[:, None].astype(np.float32))
    return net.forward()


def test_a_run_exported_half_keeps_its_predictions_without_training_state(tmp_path, tiny_model,
                                                                          faces):
    out = tmp_path / "tiny.pt"
    result = run("export", tiny_model, "-o", out, "--half", "--onnx", "--json")
    assert result.exit_code == 0, result.stderr
    doc = result.json()
    assert doc["checkpoint"] == {"path": str(out), "bytes": out.stat().st_size, "half": True}
    assert out.stat().st_size < 0.55 * tiny_model.stat().st_size  # float16 weights
    ckpt = torch.load(out, weights_only=True)
    assert {"optimizer", "scheduler", "ema"}.isdisjoint(ckpt)
    assert all(v.dtype == torch.float16 for v in ckpt["state_dict"].values()
               if v.is_floating_point())
    before, after = load_model(tiny_model).predict_proba(faces), load_model(out).predict_proba(faces)
    assert np.abs(before - after).max() < 0.01
    assert (before.argmax(1) == after.argmax(1)).mean() >= 0.99
    graph = tmp_path / "tiny.onnx"
    assert doc["onnx"]["path"] == str(graph) and doc["onnx"]["max_difference"] <= 1e-3
    assert np.abs(onnx_proba(graph, faces) - before).max() < 1e-3  # float16 weights too
    weights = [i for i in onnx.load(str(graph)).graph.initializer if i.dims and i.dims[0] > 64]
    assert weights and {i.data_type for i in weights} == {onnx.TensorProto.FLOAT16}
    meta = {p.key: p.value for p in onnx.load(str(graph)).metadata_props}
    assert json.loads(meta["classes"]) == list(EMOTIONS)


def test_a_bundled_network_exports_as_the_checkpoint_its_graph_holds(tmp_path, faces):
    out = tmp_path / "default.pt"  # float32: the graph's weights as they are
    result = run("export", "default", "-o", out)
    assert result.exit_code == 0, result.stderr
    ckpt = torch.load(out, weights_only=True)
    graph = onnx.load(str(BUNDLED["default"].paths[0]))
    meta = json.loads({p.key: p.value for p in graph.metadata_props}["emocli_checkpoint"])
    assert ckpt["arch"] == meta["arch"] == BUNDLED["default"].architecture.split()[0]
    assert ckpt["arch_args"] == meta["arch_args"]
    assert ckpt["config"]["epochs"] == meta["config"]["epochs"] > 0
    assert ckpt["metrics"]["val_acc"] > 0.6
    got = load_model(out).predict_proba(faces)
    assert np.array_equal(got, load_model("default", runtime="torch").predict_proba(faces))
    assert np.abs(got - load_model("default").predict_proba(faces)).max() < 1e-4  # opencv


@pytest.mark.parametrize("arch", __import__("emocli.models").models.list_models())
def test_every_architecture_exports_to_a_graph_opencv_runs_as_torch_does(arch, tmp_path,
                                                                        tiny_model, faces):
    """A network of each registry architecture, as a run would save it, exported as the bundled
    ones are (float16 ONNX) and run on OpenCV's DNN module, which serves annotate: the same
    probabilities as its PyTorch weights; and PyTorch reads every weight back from the graph
    (the exporter merges equal ones, as a fresh network's BatchNorm scales are)."""
    from emocli.models import create_model
    from emocli.models.checkpoint import checkpoint_meta, load_checkpoint, save_checkpoint

    torch.manual_seed(0)
    net = create_model(arch).eval()
    with torch.no_grad():  # batch statistics as a trained network has them, not 0 and 1
        for module in net.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.1, 0.1)
                module.running_var.uniform_(0.5, 1.5)
    src, graph = tmp_path / f"{arch}.pt", tmp_path / f"{arch}.onnx"
    meta = checkpoint_meta(load_checkpoint(tiny_model)) | {"arch": arch, "arch_args": {}}
    save_checkpoint(src, net, meta)
    result = run("export", src, "-o", graph, "--half")
    assert result.exit_code == 0, result.stderr
    opencv = load_model(graph)
    assert opencv.runtime == "opencv"
    got, want = opencv.predict_proba(faces), load_model(src).predict_proba(faces)
    assert np.abs(got - want).max() < 2e-3  # float16 weights
    assert np.abs(load_model(graph, runtime="torch").predict_proba(faces) - want).max() < 2e-3


@pytest.mark.parametrize("described", ["{", '{"arch": "cnn"}', "[1, 2]"])
def test_a_graph_whose_checkpoint_metadata_is_broken_is_refused_on_torch(tiny_model, tmp_path,
                                                                         faces, described):
    graph = tmp_path / "tiny.onnx"
    assert run("export", tiny_model, "-o", graph).exit_code == 0
    proto = onnx.load(str(graph))
    for prop in proto.metadata_props:
        if prop.key == "emocli_checkpoint":
            prop.value = described
    onnx.save(proto, str(graph))
    result = run("export", graph, "-o", tmp_path / "x.pt")
    assert result.exit_code == 2
    assert result.stderr == f"emocli: error: {graph}: not an emocli checkpoint\n"
    assert load_model(graph).predict_proba(faces[:4]).shape == (4, 7)  # opencv runs it


def test_the_bundled_ensemble_exports_as_one_onnx_graph(tmp_path, faces):
    graph = tmp_path / "ensemble.onnx"
    result = run("export", "ensemble", "-o", graph)
    assert result.exit_code == 0, result.stderr
    got = onnx_proba(graph, faces)
    plain = plain_average(load_model("ensemble", runtime="torch"))  # what the graph computes
    assert np.abs(got - plain.predict_proba(faces)).max() < 1e-4
    assert np.allclose(got.sum(1), 1, atol=1e-5)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ensemble.onnx"]


def test_a_network_joined_with_itself_exports_as_it_answers(tmp_path, tiny_model, faces):
    graph = tmp_path / "twice.onnx"  # the exporter merges the equal weights of the copies
    result = run("export", f"{tiny_model}+{tiny_model}", "-o", graph)
    assert result.exit_code == 0, result.stderr
    want = load_model(tiny_model).predict_proba(faces)  # a network averaged with itself
    assert np.abs(onnx_proba(graph, faces) - want).max() < 1e-4


@pytest.mark.parametrize(("args", "message"), [
    (["ensemble", "-o", "e.pt"], "ensemble: an ensemble is not one checkpoint"),
    (["default+default", "-o", "d.pt"], "default+default: an ensemble is not one checkpoint"),
    (["default+", "-o", "d.pt"], "default+: an empty name in a combination"),
    (["default", "-o", "d.txt"], "d.txt: must end in .pt or .onnx"),
    (["nope", "-o", "n.pt"], "nope: no such model file"),
])
def test_bad_exports_are_one_line_and_write_nothing(tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    result = run("export", *args)
    assert result.exit_code == 2
    assert message in result.stderr and result.stderr.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_a_model_is_never_exported_onto_itself(tmp_path, tiny_model):
    copy = tmp_path / "m.pt"
    copy.write_bytes(tiny_model.read_bytes())
    result = run("export", copy, "-o", copy, "--half")
    assert result.exit_code == 2 and "refusing to overwrite it" in result.stderr
    graph = copy.with_suffix(".onnx")  # a combination exports as one graph: not onto a part
    graph.write_bytes(b"mine")
    joined = run("export", f"{graph}+default", "-o", graph)
    assert joined.exit_code == 2 and "refusing to overwrite it" in joined.stderr
    assert graph.read_bytes() == b"mine"
    assert copy.read_bytes() == tiny_model.read_bytes()


def test_without_the_onnx_package_the_export_says_what_to_install(tmp_path, monkeypatch,
                                                                   tiny_model):
    monkeypatch.setitem(sys.modules, "onnx", None)
    result = run("export", tiny_model, "-o", tmp_path / "d.onnx")
    assert result.exit_code == 2
    assert "ONNX export needs the onnx package: pip install onnx" in result.stderr
    result = run("export", "default", "-o", tmp_path / "d.pt")  # its weights are in a graph
    assert result.exit_code == 2
    assert "default.onnx: reading an ONNX graph needs the onnx package" in result.stderr
    assert list(tmp_path.iterdir()) == []
