"""All of emocli's figures: dataset overview, confusion matrix, emotion timelines."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from emocli.data.dataset import Dataset  # noqa: E402
from emocli.data.labels import EMOTIONS  # noqa: E402
from emocli.fileio import atomic_path  # noqa: E402


def save_figure(fig, path: Path) -> None:
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=100, bbox_inches="tight", format="png")
    plt.close(fig)


def write_dataset_plots(data: Dataset, folder: Path, per_class: int = 8, seed: int = 0) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    counts = data.counts()
    fig, ax = plt.subplots(figsize=(8, 4))
    width = 0.8 / len(counts)
    for i, (split, per) in enumerate(counts.items()):
        ax.bar(np.arange(len(EMOTIONS)) + i * width, list(per.values()), width, label=split)
    ax.set_xticks(np.arange(len(EMOTIONS)) + 0.4 - width / 2, EMOTIONS)
    ax.set_ylabel("images")
    ax.legend()
    ax.set_title(f"Class counts: {data.source}")
    save_figure(fig, folder / "class_counts.png")

    rng = np.random.default_rng(seed)
    fig, axes = plt.subplots(len(EMOTIONS), per_class, figsize=(per_class, len(EMOTIONS) * 1.1))
    for label, row in enumerate(axes):
        idx = np.flatnonzero(data.labels == label)
        picks = rng.choice(idx, min(per_class, len(idx)), replace=False) if len(idx) else []
        for j, ax in enumerate(row):
            ax.axis("off")
            if j < len(picks):
                ax.imshow(data.images[picks[j]], cmap="gray", vmin=0, vmax=255)
        row[0].set_title(EMOTIONS[label], loc="left", fontsize=9)
    save_figure(fig, folder / "samples.png")
    return [folder / "class_counts.png", folder / "samples.png"]


def confusion_plot(confusion: list[list[int]], title: str, path: Path) -> None:
    """The confusion matrix normalized per row (colour), with the counts written in."""
    counts = np.asarray(confusion)
    share = counts / np.maximum(counts.sum(1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(7, 6))
    image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(counts)):
        for j in range(len(counts)):
            ax.text(j, i, f"{share[i, j]:.2f}\n{counts[i, j]}", ha="center", va="center",
                    fontsize=8, color="white" if share[i, j] > 0.5 else "black")
    ax.set_xticks(range(len(EMOTIONS)), EMOTIONS, rotation=45)
    ax.set_yticks(range(len(EMOTIONS)), EMOTIONS)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.colorbar(image, ax=ax, label="share of the true class")
    save_figure(fig, path)


def timeline_plot(records: list[dict], path: Path) -> None:
    """The 7 smoothed probabilities over time, one panel per track."""
    tracks = sorted({r["track"] for r in records}) or [None]
    fig, axes = plt.subplots(len(tracks), 1, figsize=(10, 2.2 * len(tracks)), squeeze=False)
    for ax, track in zip(axes[:, 0], tracks):
        rows = [r for r in records if r["track"] == track]
        times = [r["time_s"] for r in rows]
        for emotion in EMOTIONS:
            ax.plot(times, [r[emotion] for r in rows], label=emotion, linewidth=1.2)
        ax.set_ylim(0, 1)
        ax.set_ylabel("probability")
        ax.set_title(f"track {track}" if track is not None else "no faces", loc="left")
    axes[-1, 0].set_xlabel("time (s)")
    axes[0, 0].legend(ncol=7, fontsize=7, loc="upper right")
    save_figure(fig, path)
