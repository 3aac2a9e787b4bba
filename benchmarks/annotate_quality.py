"""Annotate quality on the real clips and photos of ../shared/media, per detector: the share of
frames with the right number of faces, frames with two faces on a one-face clip, tracks, label
flips per second, and frames/s.

Run: python benchmarks/annotate_quality.py [--detector yunet haar] [--model M]
"""

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from media_truth import CLIPS, PHOTOS, right_share  # noqa: E402

from emocli.predict.loading import load_model  # noqa: E402
from emocli.video.annotate import annotate_image, annotate_video  # noqa: E402
from emocli.video.detectors import list_detectors  # noqa: E402
from emocli.video.pipeline import AnnotateOptions, face_counts  # noqa: E402


def clip_figures(result, truth) -> dict:
    counts = face_counts(result.rows, result.frames)
    flips = [t["flips_per_s"] for t in result.summary()["tracks"]]
    return {"right": right_share(counts, truth),
            "twins": sum(c >= 2 for c in counts) if truth(0) <= 1 else 0,
            "tracks": len(flips), "flips": max(flips, default=0.0),
            "fps": result.frames / result.seconds}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--detector", nargs="*", default=list_detectors(installed_only=True))
    parser.add_argument("--model", default=None, help="default: the bundled model")
    args = parser.parse_args()
    model = load_model(args.model)
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.detector:
            opts = AnnotateOptions(detector=name, audio=False)
            print(f"\n{name}: clip, frames right, frames with 2+ faces (one-face clips), "
                  "tracks, max flips/s, frames/s")
            shares = []
            for clip, (_, truth) in CLIPS.items():
                fig = clip_figures(annotate_video(clip, Path(tmp) / "out.mp4", model, opts),
                                   truth)
                shares.append(fig["right"])
                print(f"  {clip.name:34s} {fig['right']:7.1%} {fig['twins']:5d} {fig['tracks']:4d}"
                      f" {fig['flips']:6.2f} {fig['fps']:7.1f}")
            print(f"  mean share of right frames per clip: {sum(shares) / len(shares):.1%}")
            right = 0
            for photo, count in PHOTOS.items():
                found = len(annotate_image(photo, Path(tmp) / "out.png", model, opts).rows)
                right += found == count
                print(f"  {photo.name:34s} {found} of {count}")
            print(f"  photos with the exact count: {right} of {len(PHOTOS)}")


if __name__ == "__main__":
    main()
