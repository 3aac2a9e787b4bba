"""`annotate` on real footage with every installed detector (but Haar, the last resort) and the
bundled model, all held to the same thresholds: the right number of faces in every frame, one
track per face, steady labels that still follow a real change, a 1080p crowd, dim footage."""

import subprocess

import cv2
import numpy as np
import pytest
from media_truth import CLIPS, CROWD_FACES, FACES, MEDIA, PHOTOS, make_crowd_clip, right_share

from emocli.predict.loading import load_model
from emocli.video import pipeline
from emocli.video.annotate import annotate_image, annotate_video
from emocli.video.crops import face_crops
from emocli.video.detectors import create_detector, list_detectors
from emocli.video.media import ffmpeg_exe
from emocli.video.pipeline import AnnotateOptions, face_counts

CLIP = MEDIA / "test.mp4"
# yunet where yuface has a wheel, mtcnn everywhere (CI installs both); Haar is only the fallback
QUALITY_DETECTORS = [d for d in list_detectors(installed_only=True) if d != "haar"]
ONE_FACE = [c for c, (_, truth) in CLIPS.items()
            if truth(0) == 1 and c.name != "pyfeat_face_noface.mov"]


@pytest.fixture(scope="module")
def model():
    return load_model(None)


@pytest.fixture(scope="module", params=QUALITY_DETECTORS)
def detector(request):
    return request.param


@pytest.fixture(scope="module")
def clip_results(model, detector, tmp_path_factory):
    out = tmp_path_factory.mktemp("quality")
    return {clip: annotate_video(clip, out / f"{clip.stem}.mp4", model,
                                 AnnotateOptions(detector=detector, audio=False))
            for clip in CLIPS}


def faces_per_frame(result) -> list[int]:
    return face_counts(result.rows, result.frames)


@pytest.mark.parametrize("clip", list(CLIPS), ids=lambda p: p.name)
def test_right_number_of_faces_in_every_frame(clip_results, clip):
    result = clip_results[clip]
    frames, truth = CLIPS[clip]
    assert result.frames == frames
    counts = faces_per_frame(result)
    assert right_share(counts, truth) >= 0.98
    if truth(0) <= 1:
        assert max(counts) <= 1  # never two boxes on one face


def test_a_face_that_leaves_is_drawn_up_to_its_last_frame(clip_results):
    """The face of face_noface.mov is there in frames 0-71, then gone (a black frame, then sky):
    found at a look every 4th frame once steady, it is looked for in the frames skipped since
    its last detection as soon as a look misses it, so it is drawn in every frame it is in and
    in none after."""
    clip = FACES / "pyfeat_face_noface.mov"
    frames, truth = CLIPS[clip]
    assert faces_per_frame(clip_results[clip]) == [truth(i) for i in range(frames)]


@pytest.mark.parametrize("clip", list(CLIPS), ids=lambda p: p.name)
def test_steady_labels(clip_results, clip):
    """At most one label change a second; on a clip under 2 s (the 1.75 s of smoke over a face
    whose scores sit at 0.3-0.5), two changes are no flicker."""
    result = clip_results[clip]
    for track in result.summary()["tracks"]:
        span = (track["last_frame"] - track["first_frame"] + 1) / result.fps
        assert track["flips_per_s"] * span <= max(2, 1.0 * span)


def test_one_track_per_face(clip_results):
    for clip in ONE_FACE:
        assert len(clip_results[clip].summary()["tracks"]) == 1, clip.name
    classroom = clip_results[FACES / "intel_classroom.gif"].summary()["tracks"]
    assert len(classroom) == 4 and all(t["frames"] == 45 for t in classroom)


def change_lag(rows, to_label: str, hold: float = 1.0) -> float:
    """Seconds between the classifier's own switch to `to_label` (the first classified frame
    from which it says so for the next `hold` seconds) and the shown label's switch."""
    raw = [(r.time_s, r.raw.argmax()) for r in rows if r.raw is not None]
    target = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"].index(to_label)
    for i, (t, label) in enumerate(raw):
        window = [lab for s, lab in raw[i:] if s < t + hold]
        if label == target and all(lab == target for lab in window) and i > 0:
            start = t
            break
    shown = [r.time_s for r in rows if r.label == to_label and r.time_s >= start - 1.0]
    return shown[0] - start


def test_a_real_change_is_followed_within_half_a_second(clip_results):
    rows = clip_results[FACES / "pyfeat_WolfgangLanger_Pexels.mp4"].rows
    labels = [r.label for r in rows]
    # she starts crying (the classifier's sad and neutral are 0.38 each there), ends laughing
    # (from 9.6 s). The change is one the classifier holds for a second: in the crying, at
    # 0.6-1.4 s, some networks read her grimace as happy for under a second (at 0.41-0.53), a
    # misreading that the smoother need not show
    assert labels[0] in ("sad", "fear", "neutral") and labels[-1] == "happy"
    fps = clip_results[FACES / "pyfeat_WolfgangLanger_Pexels.mp4"].fps
    assert change_lag(rows, "happy") <= 0.5 + 1 / fps  # both ends are frame times


def test_a_steady_face_is_classified_less_often_and_keeps_its_labels(model, detector):
    """A face sure of one emotion in its last two answers is classified every `classify_steady`
    frames instead of every `classify_every`: on the crying-then-laughing clip, the same faces,
    a quarter fewer classifications or more, and the same label in nearly every frame. (Faces
    are looked for on every region pass here, so that only the classification's rhythm
    changes: a face is classified only in frames where it was found.)"""
    clip = FACES / "pyfeat_WolfgangLanger_Pexels.mp4"
    steady, every = (annotate_video(clip, None, model, AnnotateOptions(
        detector=detector, audio=False, classify_steady=n, region_steady=2)) for n in (8, 3))
    assert [(r.frame, r.track) for r in steady.rows] == [(r.frame, r.track) for r in every.rows]
    frames = [[r.frame for r in result.rows if r.raw is not None] for result in (steady, every)]
    assert len(frames[0]) <= 0.75 * len(frames[1])
    gaps = set(np.diff(frames[0]).tolist())
    assert max(gaps) >= 8 and min(gaps) < 8  # steady at times, unsure (crying) at others
    same = np.mean([a.label == b.label for a, b in zip(steady.rows, every.rows)])
    assert same >= 0.97, same


def test_the_labels_do_not_depend_on_how_frames_are_handed_to_the_labeller(model, detector):
    """An idle labeller takes final frames in quarter batches (`track(eager=True)`), a busy one
    whole batches: on the crying-then-laughing clip, whose faces turn steady and unsteady, the
    same classifications, scores and labels either way."""
    clip = FACES / "pyfeat_WolfgangLanger_Pexels.mp4"
    opts = AnnotateOptions(detector=detector, audio=False)
    runs, sizes = {}, []
    for eager in (False, True):
        annotator, done = pipeline.Annotator(model, opts), []
        cap = cv2.VideoCapture(str(clip))
        while (frame := cap.read()[1]) is not None:
            ready = annotator.track(frame, eager=eager)
            sizes += [len(ready)] if eager and ready else []
            done += annotator.label(ready)
        done += annotator.finish()
        runs[eager] = [(r.frame, r.track, r.label, r.proba.round(5).tolist(),
                        None if r.raw is None else r.raw.round(5).tolist())
                       for frame in done for r in frame.faces]
    assert min(sizes) == opts.batch // pipeline.EAGER_SHARE < opts.batch  # quarter batches
    assert len(runs[True]) > 100 and runs[True] == runs[False]


@pytest.mark.parametrize("photo", list(PHOTOS), ids=lambda p: p.name)
def test_every_photo_gets_its_exact_count(model, detector, tmp_path, photo):
    result = annotate_image(photo, tmp_path / "out.png", model, AnnotateOptions(detector))
    assert len(result.rows) == PHOTOS[photo]
    assert result.detector == detector


def test_auto_takes_yunet_where_installed_and_mtcnn_elsewhere():
    from emocli.video.detectors import resolve_detector_name

    assert resolve_detector_name("auto") == QUALITY_DETECTORS[0]
    assert QUALITY_DETECTORS  # the portable detector installs on every platform


@pytest.fixture(scope="module")
def crowd(tmp_path_factory):
    if ffmpeg_exe() is None:
        pytest.skip("no ffmpeg")
    return make_crowd_clip(tmp_path_factory.mktemp("crowd") / "crowd.mp4")


def test_a_1080p_crowd_gets_one_track_per_face_and_rows_as_drawn(model, detector, crowd,
                                                                 tmp_path):
    """13 faces growing and moving up to 16 px a frame at 1920x1080: 13 tracks, 13 rows in
    every frame, and each row is a box drawn on that frame of the output."""
    out = tmp_path / "out.mp4"
    result = annotate_video(crowd, out, model, AnnotateOptions(detector=detector, audio=False))
    assert result.frames == 105
    assert len(result.summary()["tracks"]) == CROWD_FACES
    assert faces_per_frame(result) == [CROWD_FACES] * 105
    drawn, plain = cv2.VideoCapture(str(out)), cv2.VideoCapture(str(crowd))
    for index in range(0, 105, 26):
        drawn.set(cv2.CAP_PROP_POS_FRAMES, index)
        plain.set(cv2.CAP_PROP_POS_FRAMES, index)
        diff = np.abs(drawn.read()[1].astype(int) - plain.read()[1].astype(int)).sum(2)
        for row in (r for r in result.rows if r.frame == index):
            x, y, w, h = (int(v) for v in row.box)
            edge = diff[max(y, 0):y + h, max(x - 2, 0):x + 3]  # the box's left side
            assert (edge > 60).mean() > 0.5, (index, row.track)


def test_full_passes_run_ahead_in_a_thread_of_their_own_and_change_nothing(
        model, detector, crowd, monkeypatch):
    """`annotate_video` starts each scheduled full pass (frames 30, 60, 90) a few frames before
    it is tracked, on a detector of its own in another thread, so that tracking does not wait
    for it; the faces, tracks and labels are those of frame-by-frame `push`."""
    import threading

    threads, real = set(), pipeline.create_detector

    def noting_the_thread(method):
        def run(*args):
            threads.add(threading.current_thread().name)
            return method(*args)
        return run

    def spied(*args):  # a full pass: `detect`, or `propose` where the detector splits it
        found = real(*args)
        for name in ("detect", "propose"):
            if hasattr(found, name):
                setattr(found, name, noting_the_thread(getattr(found, name)))
        return found

    monkeypatch.setattr(pipeline, "create_detector", spied)
    opts = AnnotateOptions(detector=detector, audio=False)
    result = annotate_video(crowd, None, model, opts)
    assert any(name.startswith("emocli-full-pass") for name in threads), threads
    annotator, rows = pipeline.Annotator(model, opts, result.fps), []
    cap = cv2.VideoCapture(str(crowd))
    while (frame := cap.read()[1]) is not None:
        rows += [face for done in annotator.push(frame) for face in done.faces]
    rows += [face for done in annotator.finish() for face in done.faces]

    def faces(found):
        return [(r.frame, r.track, r.box.round(3).tolist(), r.label) for r in found]

    assert len(rows) == CROWD_FACES * 105 and faces(result.rows) == faces(rows)


def test_steady_faces_are_looked_for_less_often_and_stay_the_same(model, detector, crowd,
                                                                  monkeypatch):
    """A face found at its last look (and six times in all) is looked for every 4th frame
    instead of every 2nd: on the 1080p crowd, a third fewer looks or more, and the same faces
    of the same tracks in every frame; the labels of all but a face or two (one whose answer
    sits between happy and neutral can tip) the same in every frame, and no more flicker."""
    from emocli.video.tracker import Tracker

    looks, real = [0], Tracker.update_tracks

    def counted(self, tracks, dets):
        looks[0] += len(tracks)
        return real(self, tracks, dets)

    monkeypatch.setattr(Tracker, "update_tracks", counted)
    runs = {}
    for every in (2, 4):
        looks[0] = 0
        result = annotate_video(crowd, None, model, AnnotateOptions(
            detector=detector, audio=False, region_steady=every))
        runs[every] = looks[0], result
    (before, old), (after, new) = runs[2], runs[4]
    assert after <= 0.67 * before, (after, before)
    assert [(r.frame, r.track) for r in new.rows] == [(r.frame, r.track) for r in old.rows]
    changed = {a.track for a, b in zip(new.rows, old.rows) if a.label != b.label}
    assert len(changed) <= 2, changed

    def flips(result):
        return sum(t["flips_per_s"] for t in result.summary()["tracks"])

    assert flips(new) <= flips(old)


def darken(image: np.ndarray, seed: int) -> np.ndarray:
    """A dim, flat, noisy copy: gamma 1.8, contrast 0.7, sensor noise of 4 levels."""
    x = (image.astype(np.float32) / 255) ** 1.8
    x = (x - x.mean()) * 0.7 + x.mean()
    noise = np.random.default_rng(seed).normal(0, 4, image.shape)
    return (x * 255 + noise).clip(0, 255).astype(np.uint8)


@pytest.mark.parametrize("photo", list(PHOTOS), ids=lambda p: p.name)
def test_darkened_photos_get_no_ghost_and_lose_no_face(model, detector, tmp_path, photo):
    dim = tmp_path / "dim.png"
    cv2.imwrite(str(dim), darken(cv2.imread(str(photo)), 0))
    assert cv2.cvtColor(cv2.imread(str(dim)), cv2.COLOR_BGR2GRAY).mean() < 100
    result = annotate_image(dim, None, model, AnnotateOptions(detector))
    assert len(result.rows) == PHOTOS[photo]


DIM_CLIPS = [MEDIA / "test.mp4", FACES / "pyfeat_face_noface.mov", FACES / "pyfeat_no_face.mp4",
             FACES / "intel_classroom.gif"]


def darkened(clip, dst):
    """A darkened copy of a clip (each frame as `darken` makes it), as Motion JPEG."""
    cap, writer = cv2.VideoCapture(str(clip)), None
    index = 0
    while (frame := cap.read()[1]) is not None:
        if writer is None:
            writer = cv2.VideoWriter(str(dst), cv2.VideoWriter_fourcc(*"MJPG"), 25,
                                     frame.shape[1::-1])
        writer.write(darken(frame, index))
        index += 1
    writer.release()
    return dst


@pytest.mark.parametrize("clip", DIM_CLIPS, ids=lambda p: p.name)
def test_darkened_clips_get_no_ghost(model, detector, tmp_path, clip):
    src = darkened(clip, tmp_path / "dim.avi")
    result = annotate_video(src, None, model, AnnotateOptions(detector=detector, audio=False))
    counts, truth = faces_per_frame(result), CLIPS[clip][1]
    assert all(n <= truth(i) for i, n in enumerate(counts))  # never a face that is not there
    if clip != FACES / "intel_classroom.gif":  # its 20 px faces are partly lost in the dark
        assert right_share(counts, truth) >= 0.98


def test_a_darkened_1080p_crowd_keeps_every_face_from_the_first_frame(model, detector, crowd,
                                                                      tmp_path):
    """The crowd clip darkened as above: its 13 faces, 20-70 px and dimmer than the detector's
    birth score at first, are followed from the first full pass and shown once one look is
    sure (a face found later is followed back through the held frames): 13 tracks, no ghost,
    all 13 faces in nearly every frame."""
    src = darkened(crowd, tmp_path / "dim.avi")
    assert cv2.cvtColor(cv2.VideoCapture(str(src)).read()[1], cv2.COLOR_BGR2GRAY).mean() < 70
    result = annotate_video(src, None, model, AnnotateOptions(detector=detector, audio=False))
    counts = faces_per_frame(result)
    assert len(result.summary()["tracks"]) == CROWD_FACES and max(counts) == CROWD_FACES
    assert counts.count(CROWD_FACES) >= 0.95 * len(counts), counts


def _ffmpeg(*args):
    subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-y", *map(str, args)], check=True)


@pytest.fixture(scope="module")
def derived(tmp_path_factory):
    """test.mp4 upscaled, looped 10 times, and stored rotated with phone rotation metadata."""
    if ffmpeg_exe() is None:
        pytest.skip("no ffmpeg")
    folder = tmp_path_factory.mktemp("derived")
    clips = {}
    for name, size in (("720p", "1280:720"), ("1080p", "1920:1080")):
        clips[name] = folder / f"{name}.mp4"
        _ffmpeg("-i", CLIP, "-vf", f"scale={size}", "-c:v", "mpeg4", "-q:v", "4", clips[name])
    clips["loop10"] = folder / "loop10.mp4"
    _ffmpeg("-stream_loop", 9, "-i", CLIP, "-c:v", "mpeg4", "-q:v", "4", clips["loop10"])
    stored = folder / "transposed.mp4"
    _ffmpeg("-i", CLIP, "-vf", "transpose=1", "-c:v", "mpeg4", "-q:v", "4", stored)
    clips["phone"] = folder / "phone.mp4"  # portrait pixels, shown upright by the metadata
    _ffmpeg("-display_rotation", 90, "-i", stored, "-c", "copy", clips["phone"])
    return clips


@pytest.mark.parametrize("name,frames", [("720p", 115), ("1080p", 115), ("loop10", 1150),
                                         ("phone", 115)])
def test_one_track_at_any_size_length_and_rotation(model, derived, tmp_path, name, frames):
    out = tmp_path / "out.mp4"
    result = annotate_video(derived[name], out, model, AnnotateOptions(audio=False))
    assert result.frames == frames
    assert faces_per_frame(result) == [1] * frames
    assert len(result.summary()["tracks"]) == 1
    upright = cv2.VideoCapture(str(CLIP)).read()[1].shape
    assert cv2.VideoCapture(str(out)).read()[1].shape == (upright if name in ("phone", "loop10")
                                                         else cv2.VideoCapture(
                                                             str(derived[name])).read()[1].shape)


@pytest.mark.parametrize("detector", list_detectors(installed_only=True))
def test_tracking_keeps_one_face_one_track_with_each_detector(model, tmp_path, detector):
    result = annotate_video(CLIP, tmp_path / "out.mp4", model,
                            AnnotateOptions(detector=detector, audio=False))
    counts = faces_per_frame(result)
    assert max(counts) == 1
    assert sum(counts) >= 0.9 * len(counts)
    assert len(result.summary()["tracks"]) == 1


@pytest.mark.parametrize("eager", [False, True], ids=["batches", "eager"])
def test_a_face_that_appears_late_is_drawn_from_its_first_frame(model, eager):
    """Full passes run on frames 0, 30, 60, ...: a face that appears at 31 is found at 60 and
    followed back to 31, also when an idle labeller takes final frames early (`eager`)."""
    cap = cv2.VideoCapture(str(CLIP))
    frames = []
    while (frame := cap.read()[1]) is not None:
        frames.append(np.zeros_like(frame) if len(frames) < 31 else frame)
    annotator, done = pipeline.Annotator(model, AnnotateOptions(audio=False)), []
    for frame in frames:
        done += annotator.label(annotator.track(frame, eager=eager))
    done += annotator.finish()
    assert [len(frame.faces) for frame in done] == [0] * 31 + [1] * (len(frames) - 31)


def test_levelling_turns_a_tilted_face_upright():
    """With the detector's eye landmarks, the crop of a face tilted by 20 degrees looks like the
    crop of the upright face; without them it stays tilted."""
    detector = create_detector()
    if detector.name == "haar":
        pytest.skip("haar gives no landmarks")
    image = cv2.imread(str(MEDIA / "justin.jpg"))
    centre = (image.shape[1] / 2, image.shape[0] / 2)
    tilted = cv2.warpAffine(image, cv2.getRotationMatrix2D(centre, 20, 1.0),
                            image.shape[1::-1], borderMode=cv2.BORDER_REPLICATE)

    def crop(frame, level):
        found = detector.detect(frame)
        return face_crops(frame, found.boxes[:1], found.landmarks[:1] if level else None)[0]

    upright = crop(image, level=False).astype(int)
    levelled, plain = crop(tilted, level=True), crop(tilted, level=False)
    assert np.abs(levelled - upright).mean() < 0.6 * np.abs(plain - upright).mean()
