"""Exporting a model for shipping: a bundled-size checkpoint, or an ONNX graph for other runtimes
(preprocessing and softmax inside), checked against PyTorch before it is kept."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from emocli import __version__
from emocli.errors import EmocliError, JobFailed
from emocli.fileio import atomic_path
from emocli.models.checkpoint import ONNX_META, ONNX_PREFIX
from emocli.predict.loading import Ensemble, plain_average
from emocli.predict.predictor import Predictor

ONNX_OPSET = 17
ONNX_TOLERANCE = 1e-4  # largest difference in any probability allowed against PyTorch
HALF_TOLERANCE = 1e-3  # ... with float32 weights rounded to float16


class _Probabilities(nn.Module):
    """Gray 0-255 faces (N, 1, 48, 48), float32, in; the members' averaged probabilities out."""

    def __init__(self, members: list[Predictor]):
        super().__init__()
        self.nets = nn.ModuleList(m.model for m in members)
        self.norms = [(m.norm["mean"], m.norm["std"]) for m in members]  # constants in the graph

    def forward(self, faces: torch.Tensor) -> torch.Tensor:
        pixels = faces / 255
        # a sum rather than stack().mean(): OpenCV's ONNX importer mis-reads the latter
        total = sum(torch.softmax(net((pixels - mean) / std), dim=1)
                    for net, (mean, std) in zip(self.nets, self.norms))
        return total / len(self.nets)


def export_onnx(model: Predictor | Ensemble, dst: str | Path,
                check_images: np.ndarray | None = None, half: bool = False) -> float:
    """Write `model` (one network, or an ensemble as the plain average of its members, without
    its early exit) as ONNX: input `faces`, float32 gray pixels
    0-255 of shape (N, 1, 48, 48), any N; output `probabilities` (N, 7) in `classes` order
    (also in the file's metadata). Before the file is kept, OpenCV's ONNX runtime runs it on
    `check_images` ((N, 48, 48) uint8; default: 64 seeded random images) and its
    probabilities must match PyTorch's within 1e-4 (1e-3 with `half`: float16 weights, cast to
    float32 inside the graph, half the size). Returns the largest difference."""
    try:
        import onnx
    except ImportError:
        raise EmocliError("ONNX export needs the onnx package: pip install onnx") from None
    members = model.members if isinstance(model, Ensemble) else [model]
    size = members[0].input_size
    graph = _Probabilities(members).eval()
    images = check_images if check_images is not None else np.random.default_rng(0).integers(
        0, 256, (64, size, size), dtype=np.uint8)
    with atomic_path(dst) as tmp:
        with warnings.catch_warnings():  # the TorchScript exporter announces its successor
            warnings.simplefilter("ignore")
            # unfolded, the weights keep their state-dict names (`load_checkpoint` reads them
            # back); OpenCV folds BatchNorm into the convolutions itself
            torch.onnx.export(graph, (torch.zeros(2, 1, size, size),), str(tmp), dynamo=False,
                              input_names=["faces"], output_names=["probabilities"],
                              dynamic_axes={"faces": {0: "n"}, "probabilities": {0: "n"}},
                              opset_version=ONNX_OPSET, do_constant_folding=False)
        proto = onnx.load(str(tmp))
        meta = {"classes": json.dumps(members[0].classes), "input": "gray 0-255 (N, 1, 48, 48)",
                "model": model.name, "emocli_version": __version__}
        if len(members) == 1:  # one network: the graph is its checkpoint too (load_checkpoint)
            meta[ONNX_META] = json.dumps(members[0].meta)
            _keep_every_weight(proto, members[0].model)
        else:  # each network reads its own weights (a single network's graph keeps
            # the exporter's merged BatchNorm biases, as the shipped graphs have them)
            _unshare_weights(proto)
        for key, value in meta.items():
            proto.metadata_props.add(key=key, value=value)
        if half:
            _half_weights(proto)
        onnx.save(proto, str(tmp))
        worst = _check(tmp, Path(dst), plain_average(model), images,  # no early exit in it
                       HALF_TOLERANCE if half else ONNX_TOLERANCE)
    return worst


def _keep_every_weight(proto, net: nn.Module) -> None:
    """Store the weights the exporter merged into another of equal value (a residual block's
    two BatchNorm biases, trained in step, are equal), unused by the graph, so that
    `load_checkpoint` reads every weight back by its name."""
    from onnx import numpy_helper

    stored = {init.name for init in proto.graph.initializer}
    for name, value in net.state_dict().items():
        if value.is_floating_point() and ONNX_PREFIX + name not in stored:
            proto.graph.initializer.append(
                numpy_helper.from_array(value.detach().cpu().numpy(), ONNX_PREFIX + name))


def _unshare_weights(proto) -> None:
    """Store again, under its own name, each weight the exporter merged into another of equal
    value and reads through an Identity node: in a network joined with itself (`a.pt+a.pt`)
    every convolution's weights come so, and OpenCV runs a convolution whose weights a node
    gives wrong at batch sizes over one (0.49 off)."""
    from onnx import numpy_helper

    graph = proto.graph
    weights = {init.name: init for init in graph.initializer}
    for node in [n for n in graph.node if n.op_type == "Identity" and n.input[0] in weights]:
        graph.initializer.append(numpy_helper.from_array(
            numpy_helper.to_array(weights[node.input[0]]), node.output[0]))
        graph.node.remove(node)


def _half_weights(proto) -> None:
    """Store the float32 weights as float16, each read through a Cast back to float32, so
    that the graph stays valid ONNX for every runtime (OpenCV folds the casts at load)."""
    from onnx import TensorProto, helper, numpy_helper

    graph, kept, casts = proto.graph, [], []
    for init in graph.initializer:
        weights = numpy_helper.to_array(init)
        if weights.dtype != np.float32 or weights.size < 64:  # scalars stay as they are
            kept.append(init)
            continue
        kept.append(numpy_helper.from_array(weights.astype(np.float16), f"{init.name}.fp16"))
        casts.append(helper.make_node("Cast", [kept[-1].name], [init.name],
                                      to=TensorProto.FLOAT))
    nodes = list(graph.node)
    del graph.initializer[:], graph.node[:]
    graph.initializer.extend(kept)
    graph.node.extend(casts + nodes)


def _check(path: Path, dst: Path, model: Predictor | Ensemble, images: np.ndarray,
           tolerance: float) -> float:
    from emocli.predict.dnn import DnnPredictor

    # as `annotate` and `evaluate` run it: batches of 2 and 1 first, then these images
    onnx_proba = DnnPredictor(path).predict_proba(images)
    torch_proba = model.predict_proba(images)
    worst = float(np.abs(onnx_proba - torch_proba).max())
    if not worst <= tolerance:
        raise JobFailed(f"{dst}: the ONNX graph differs from PyTorch by {worst:.2g} "
                        f"(more than {tolerance}); not written")
    return worst
