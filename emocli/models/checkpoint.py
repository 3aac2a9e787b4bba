"""Checkpoints: a state dict plus plain-typed metadata, loaded with `weights_only=True` only."""

from __future__ import annotations

import pickle
import warnings
import zipfile
from pathlib import Path

import torch
from torch import nn

from emocli import __version__
from emocli.errors import EmocliError
from emocli.fileio import atomic_path
from emocli.models.factory import create_model

FORMAT = "emocli-checkpoint-1"
REQUIRED = ("arch", "arch_args", "classes", "input_size", "normalization", "state_dict")


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
    """Load and check a checkpoint; never unpickle anything but plain data."""
    path = Path(path)
    if not path.is_file():
        raise EmocliError(f"{path}: no such model file")
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
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT or \
            any(k not in ckpt for k in REQUIRED):
        raise EmocliError(f"{path}: not an emocli checkpoint")
    return ckpt


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
    state = {k: v.float() if v.is_floating_point() else v for k, v in ckpt["state_dict"].items()}
    try:
        model.load_state_dict(state)
    except RuntimeError:
        raise EmocliError(f"{source}: the weights do not fit architecture {ckpt['arch']!r} "
                          f"with {ckpt['arch_args']}") from None
    return model.eval()


def export_checkpoint(src: str | Path, dst: str | Path, half: bool = True) -> None:
    """A run's checkpoint as the package ships it: the weights (float16 with `half`) and the
    metadata, without optimizer or schedule state."""
    ckpt = load_checkpoint(src)
    model = model_from_checkpoint(ckpt, str(src))
    meta = {k: ckpt[k] for k in ("arch", "arch_args", "classes", "input_size", "normalization",
                                 "config", "metrics") if k in ckpt}
    save_checkpoint(dst, model, meta, half=half)
