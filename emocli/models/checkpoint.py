"""Checkpoints: a state dict plus plain-typed metadata, loaded with `weights_only=True` only."""

from __future__ import annotations

import json
import pickle
import warnings
from pathlib import Path

import torch
from torch import nn

from emocli import __version__
from emocli.errors import EmocliError
from emocli.fileio import atomic_path
from emocli.models.factory import create_model

FORMAT = "emocli-checkpoint-1"
REQUIRED = ("arch", "arch_args", "classes", "input_size", "normalization", "state_dict")
META = ("arch", "arch_args", "classes", "input_size", "normalization", "config", "metrics")
ONNX_META = "emocli_checkpoint"  # an exported network's metadata, JSON, in its ONNX graph
ONNX_PREFIX = "nets.0."  # the one network's weights in a graph `export_onnx` wrote


def save_checkpoint(path: str | Path, model: nn.Module, meta: dict, half: bool = False,
                    **training_state) -> None:
    """Write atomically; `half` stores float weights as float16 (for the bundled model)."""
    state = {k: (v.half() if half and v.is_floating_point() else v).detach().cpu().clone()
             for k, v in model.state_dict().items()}
    ckpt = {"format": FORMAT, "emocli_version": __version__, **meta, "state_dict": state,
            **training_state}
    with atomic_path(path) as tmp:
        torch.save(ckpt, tmp)


def load_checkpoint(path: str | Path) -> dict:
    """Load and check a checkpoint; never unpickle anything but plain data. An ONNX graph that
    `emocli export` wrote from one network (how the bundled models ship) serves as one too."""
    path = Path(path)
    if not path.is_file():
        raise EmocliError(f"{path}: no such model file")
    ckpt = _checkpoint_from_onnx(path) if path.suffix.lower() == ".onnx" else _unpickle(path)
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT or \
            any(k not in ckpt for k in REQUIRED):
        raise EmocliError(f"{path}: not an emocli checkpoint")
    return ckpt


def _unpickle(path: Path):
    try:
        with warnings.catch_warnings():  # torch warns about odd pickle protocols on stderr
            warnings.simplefilter("ignore")
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        reason = _unpickler_reason(str(exc))
        if "global" in reason.lower():
            raise EmocliError(f"{path}: refused: the file holds pickled objects that are not "
                              f"plain data ({reason}); nothing in it was run") from None
        raise EmocliError(f"{path}: not a readable model file ({reason})") from None
    except Exception as exc:  # noqa: BLE001 - an untrusted file may break torch's reader anyhow
        if path.stat().st_size == 0:
            raise EmocliError(f"{path}: not a readable model file (it is empty)") from None
        detail = (str(exc).splitlines() or [type(exc).__name__])[0][:100]
        raise EmocliError(f"{path}: not a readable model file (truncated, or not a PyTorch "
                          f"checkpoint: {detail})") from None
    return ckpt


def _checkpoint_from_onnx(path: Path) -> dict | None:
    """The checkpoint inside an exported graph: its metadata, and its initializers as the
    state dict (float16 where the graph stores them so); None where the metadata is no dict."""
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError:
        raise EmocliError(f"{path}: reading an ONNX graph needs the onnx package: "
                          "pip install onnx") from None
    try:  # protobuf only: nothing in the file runs; external data is never followed
        proto = onnx.load(str(path), load_external_data=False)
    except Exception:  # noqa: BLE001 - an untrusted file may break the parser anyhow
        raise EmocliError(f"{path}: not a readable ONNX graph") from None
    meta = {p.key: p.value for p in proto.metadata_props}
    if ONNX_META not in meta:
        raise EmocliError(f"{path}: this ONNX graph holds no emocli network's metadata (an "
                          "ensemble, or a graph from elsewhere): it runs on opencv only")
    try:
        described = json.loads(meta[ONNX_META])
    except ValueError:
        described = None
    if not isinstance(described, dict):
        return None
    state = {init.name[len(ONNX_PREFIX):].removesuffix(".fp16"):
             torch.from_numpy(numpy_helper.to_array(init).copy())
             for init in proto.graph.initializer if init.name.startswith(ONNX_PREFIX)}
    return {**described, "format": FORMAT, "state_dict": state}


def _unpickler_reason(message: str) -> str:
    """The one informative line of torch's weights-only refusal."""
    lines = [ln.strip() for ln in message.splitlines() if ln.strip()]
    for i, line in enumerate(lines):
        if line.startswith("WeightsUnpickler error"):
            return (line.partition(":")[2].strip() or (lines[i + 1] if i + 1 < len(lines)
                                                        else ""))[:120]
    return "unpickling failed"


def model_from_checkpoint(ckpt: dict, source: str = "checkpoint") -> nn.Module:
    """Rebuild the registered architecture and load the weights (strictly)."""
    model = create_model(ckpt["arch"], num_classes=len(ckpt["classes"]), **ckpt["arch_args"])
    try:
        load_weights(model, ckpt["state_dict"])
    except RuntimeError:
        raise EmocliError(f"{source}: the weights do not fit architecture {ckpt['arch']!r} "
                          f"with {ckpt['arch_args']}") from None
    return model.eval()


def load_weights(model: nn.Module, state: dict) -> None:
    """Load a state dict (float16 weights too) strictly, but for BatchNorm's step counters,
    which no exported graph keeps (they stay at zero): RuntimeError on any other mismatch."""
    state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or any(not k.endswith("num_batches_tracked") for k in missing):
        raise RuntimeError(f"missing {missing}, unexpected {unexpected}")


def export_checkpoint(src: str | Path, dst: str | Path, half: bool = True) -> None:
    """A run's checkpoint (or an exported graph) as a checkpoint without optimizer or schedule
    state: the weights (float16 with `half`) and the metadata."""
    ckpt = load_checkpoint(src)
    save_checkpoint(dst, model_from_checkpoint(ckpt, str(src)), checkpoint_meta(ckpt), half=half)


def checkpoint_meta(ckpt: dict) -> dict:
    """What describes a checkpoint's network, without the weights and the training state."""
    return {k: ckpt[k] for k in META if k in ckpt}
