"""The bundled models on OpenCV's DNN module: the same answers as PyTorch on all of PublicTest,
the shipped graphs are the ones `export` makes from the shipped weights, and no torch loads."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import onnx
import pytest
from conftest import MEDIA, run

from emocli.errors import EmocliError, OptionError
from emocli.models.bundled import BUNDLED
from emocli.predict import load_model
from emocli.predict.dnn import DnnPredictor

MEMBERS = sorted({p for m in BUNDLED.values() for p in m.paths}, key=lambda p: p.name)


@pytest.fixture(scope="module")
def publictest(fer):
    return fer.split("val")


@pytest.mark.parametrize("name", list(BUNDLED))
def test_bundled_models_answer_as_pytorch_on_all_of_publictest(name, publictest):
    images, labels = publictest
    dnn, torch_model = load_model(name), load_model(name, runtime="torch")
    assert (dnn.runtime, torch_model.runtime) == ("opencv", "torch")
    got, want = dnn.predict_proba(images), torch_model.predict_proba(images)
    assert len(images) == 3589
    assert np.abs(got - want).max() < 1e-4
    assert (got.argmax(1) == want.argmax(1)).mean() >= 0.999
    assert (got.argmax(1) == labels).mean() == pytest.approx(BUNDLED[name].accuracy["none"],
                                                             abs=0.0005)


@pytest.mark.parametrize("tta", ["flip", "tencrop"])
def test_test_time_augmentation_is_the_same_on_both_runtimes(tta, publictest):
    images = publictest[0][:400]
    got = load_model("default").predict_proba(images, tta)
    want = load_model("default", runtime="torch").predict_proba(images, tta)
    assert np.abs(got - want).max() < 2e-3  # OpenCV's and torch's bilinear resize differ a hair
    assert (got.argmax(1) == want.argmax(1)).mean() >= 0.99
    plain = load_model("default").predict_proba(images)
    assert np.abs(got - plain).max() > 0.05  # the augmentation did something


@pytest.mark.parametrize("weights", MEMBERS, ids=lambda p: p.name)
def test_pytorch_reads_a_shipped_graphs_weights_exactly(weights, tmp_path):
    from onnx import numpy_helper

    made = tmp_path / weights.name  # exported again, from the weights PyTorch read from it
    result = run("export", weights, "-o", made, "--half")
    assert result.exit_code == 0, result.stderr

    def tensors(path):
        graph = onnx.load(str(path)).graph
        return ([n.op_type for n in graph.node],
                {i.name: numpy_helper.to_array(i) for i in graph.initializer})

    (ops, shipped), (made_ops, fresh) = tensors(weights), tensors(made)
    assert ops == made_ops and "BatchNormalization" in ops
    assert shipped.keys() == fresh.keys()
    assert all(np.array_equal(shipped[k], fresh[k]) for k in shipped)
    assert sum(a.dtype == np.float16 for a in shipped.values()) >= 8


def test_a_user_onnx_model_runs_on_both_runtimes_and_a_checkpoint_is_refused_on_opencv(
        tiny_model, tmp_path, publictest):
    graph = tmp_path / "tiny.onnx"
    assert run("export", tiny_model, "-o", graph).exit_code == 0
    faces = publictest[0][:200]
    got = load_model(graph).predict_proba(faces)
    assert np.abs(got - load_model(tiny_model).predict_proba(faces)).max() < 1e-4
    with pytest.raises(OptionError, match="is a PyTorch checkpoint: export it to ONNX"):
        load_model(tiny_model, runtime="opencv")
    on_torch = load_model(graph, runtime="torch")  # the graph carries the checkpoint
    assert on_torch.runtime == "torch" and on_torch.meta["arch"] == "cnn"
    assert np.abs(on_torch.predict_proba(faces) - got).max() < 1e-4
    pair = tmp_path / "pair.onnx"
    assert run("export", "ensemble", "-o", pair).exit_code == 0
    with pytest.raises(EmocliError, match="pair.onnx: this ONNX graph holds no emocli network's "
                                          "metadata .* it runs on opencv only"):
        load_model(pair, runtime="torch")


def test_an_onnx_file_that_is_not_a_face_model_is_one_error(tmp_path):
    from onnx import TensorProto, helper

    other = tmp_path / "other.onnx"
    node = helper.make_node("Relu", ["x"], ["y"])
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info(
        "x", TensorProto.FLOAT, [1, 3])], [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])])
    onnx.save(helper.make_model(graph), str(other))
    (tmp_path / "junk.onnx").write_bytes(b"not a graph")
    for path in (other, tmp_path / "junk.onnx"):
        with pytest.raises(EmocliError, match="not an emocli face model"):
            DnnPredictor(path)
    result = run("annotate", MEDIA / "justin.jpg", "--model", other, "-o", tmp_path / "x.jpg")
    assert result.exit_code == 2
    assert result.stderr.strip().startswith(f"emocli: error: {other}: not an emocli face model")
    assert not (tmp_path / "x.jpg").exists()


def test_analyze_in_python_loads_no_torch():
    code = ("import sys, emocli\n"
            f"faces = emocli.analyze({str(MEDIA / 'justin.jpg')!r})\n"
            "print(len(faces), faces[0]['label'], 'torch' in sys.modules)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["1", "happy", "False"]
