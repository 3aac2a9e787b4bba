"""MTCNN's three networks in PyTorch: they read facenet-pytorch's weight files and are turned
into ONNX graphs once (`onnx_graphs`), which OpenCV runs from then on without torch."""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from emocli.errors import EmocliError
from emocli.video.mtcnn import NETS, OUTPUTS

ONNX_OPSET = 17


def _conv(cin: int, cout: int, k: int) -> tuple[nn.Conv2d, nn.PReLU]:
    return nn.Conv2d(cin, cout, k), nn.PReLU(cout)


class PNet(nn.Module):
    """The proposal network: fully convolutional, box offsets and face/not-face probabilities
    per 12-px cell."""

    def __init__(self):
        super().__init__()
        self.conv1, self.prelu1 = _conv(3, 10, 3)
        self.conv2, self.prelu2 = _conv(10, 16, 3)
        self.conv3, self.prelu3 = _conv(16, 32, 3)
        self.conv4_1, self.conv4_2 = nn.Conv2d(32, 2, 1), nn.Conv2d(32, 4, 1)

    def forward(self, x):
        x = nn.functional.max_pool2d(self.prelu1(self.conv1(x)), 2, 2, ceil_mode=True)
        x = self.prelu3(self.conv3(self.prelu2(self.conv2(x))))
        return self.conv4_2(x), torch.softmax(self.conv4_1(x), 1)


def _flat(x: torch.Tensor) -> torch.Tensor:
    # the weights came from Caffe through TensorFlow: features flatten in (W, H, C) order;
    # flatten (not reshape to len(x)) keeps the batch size free in the ONNX graph
    return x.permute(0, 3, 2, 1).flatten(1)


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
        return self.dense5_2(x), torch.softmax(self.dense5_1(x), 1)


class ONet(nn.Module):
    """The output network on 48x48 candidates: box offsets, five landmarks, probabilities."""

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
        return self.dense6_2(x), self.dense6_3(x), torch.softmax(self.dense6_1(x), 1)


CLASSES, SIDES = (PNet, RNet, ONet), (12, 24, 48)  # in NETS order


def load_torch_nets(folder: Path) -> list[nn.Module]:
    """The three networks with the weights in `folder`, read with `weights_only=True`."""
    nets = []
    for name, cls in zip(NETS, CLASSES):
        path, net = folder / f"{name}.pt", cls()
        try:
            net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        except Exception as e:  # a damaged install: name the file, whatever torch raised
            raise EmocliError(f"{path}: not MTCNN weights ({type(e).__name__})") from None
        nets.append(net.eval())
    return nets


def torch_runners(folder: Path) -> list[Callable[[np.ndarray], list[np.ndarray]]]:
    """Each network as a function of a float32 NCHW array, returning its outputs as arrays."""
    def runner(net: nn.Module):
        def run(x: np.ndarray) -> list[np.ndarray]:
            with torch.inference_mode():
                return [out.numpy() for out in net(torch.from_numpy(x))]
        return run
    return [runner(net) for net in load_torch_nets(folder)]


def onnx_graphs(folder: Path) -> list[bytes]:
    """The three networks as ONNX graphs (float32; P-Net of any size, any batch)."""
    graphs = []
    for net, name, side, outputs in zip(load_torch_nets(folder), NETS, SIDES, OUTPUTS):
        axes = {0: "n", 2: "h", 3: "w"} if name == "pnet" else {0: "n"}
        buffer = io.BytesIO()
        with warnings.catch_warnings():  # the TorchScript exporter announces its successor
            warnings.simplefilter("ignore")
            torch.onnx.export(net, torch.zeros(1, 3, side, side), buffer, input_names=["x"],
                              output_names=list(outputs), dynamic_axes={"x": axes},
                              opset_version=ONNX_OPSET, dynamo=False)
        graphs.append(buffer.getvalue())
    return graphs
