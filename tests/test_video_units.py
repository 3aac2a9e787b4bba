"""The video pieces on synthetic boxes and images: box clean-up, tracking, smoothing, crops,
and every installed detector on real photos."""

import math

import cv2
import numpy as np
import pytest
from media_truth import MEDIA

from emocli.errors import EmocliError
from emocli.video.boxes import Detections, clean, overlaps, similarity
from emocli.video.crops import eye_angle, face_crop, face_crops, level_angle
from emocli.video.draw import COLOURS, draw
from emocli.video.detectors import (
    create_detector,
    list_detectors,
    resolve_detector_name,
    working_scale,
)
from emocli.video.smoothing import LabelSmoother, SmoothingConfig, flips_per_second
from emocli.video.tracker import Tracker, TrackerConfig


def dets(*rows, landmarks=None) -> Detections:
    """Detections from (x, y, w, h, score) rows."""
    a = np.array(rows, np.float32).reshape(-1, 5)
    return Detections(a[:, :4], a[:, 4], landmarks)


# -- boxes ------------------------------------------------------------------------------------
def test_clean_removes_duplicates_nested_boxes_and_low_scores():
    out = clean(dets((100, 100, 50, 50, 0.9), (102, 101, 50, 49, 0.8),  # a duplicate
                     (110, 112, 25, 25, 0.95),  # nested inside the first, scored higher
                     (300, 100, 50, 50, 0.85),  # another face
                     (500, 100, 50, 50, 0.3)), min_score=0.5)  # too weak
    assert len(out) == 2
    assert sorted(out.boxes[:, 0].tolist()) == [110, 300]  # the better of each face survives


def test_clean_keeps_faces_side_by_side():
    out = clean(dets((0, 0, 40, 40, 0.9), (35, 0, 40, 40, 0.9), (0, 45, 40, 40, 0.9)), 0.5)
    assert len(out) == 3


def test_overlaps_iou_and_inside():
    iou, inside = overlaps(np.array([[0, 0, 10, 10]]), np.array([[0, 0, 10, 10], [5, 0, 10, 10],
                                                                [2, 2, 4, 4], [20, 20, 5, 5]]))
    assert iou[0].tolist() == pytest.approx([1.0, 1 / 3, 0.16, 0.0])
    assert inside[0].tolist() == pytest.approx([1.0, 0.5, 1.0, 0.0])


def test_similarity_keeps_a_fast_small_face_and_tells_neighbours_apart():
    face = np.array([[100, 100, 30, 30]])
    moved = np.array([[112, 104, 30, 30]])  # 0.4 of its side in one look: IoU only 0.44
    neighbour = np.array([[135, 100, 30, 30]])  # the next face in a row of people
    bigger = np.array([[106, 106, 60, 60]])  # centres close, sizes far apart
    assert overlaps(face, moved)[0][0, 0] < 0.5 < similarity(face, moved)[0][0, 0]
    assert similarity(face, neighbour)[0][0, 0] == pytest.approx(0.0, abs=0.01)
    assert similarity(face, bigger)[0][0, 0] == pytest.approx(overlaps(face, bigger)[0][0, 0])


# -- tracker ----------------------------------------------------------------------------------
def feed(tracker: Tracker, frames: list[Detections], full_every: int = 1) -> list[dict]:
    """Run the tracker over per-frame detections; what it shows in each frame."""
    shown = []
    for i, d in enumerate(frames):
        tracker.begin_frame(i)
        if i % full_every == 0:
            tracker.update(d)
        else:
            for t in list(tracker.tracks):
                tracker.update_track(t, d)
        tracker.end_frame()
        shown.append({t.id: t.box.copy() for t in tracker.confirmed() if t.detected})
    return shown


def test_duplicates_every_frame_make_one_track():
    frames = [dets((100 + i, 50, 60, 60, 0.9), (104 + i, 53, 55, 58, 0.8)) for i in range(10)]
    shown = feed(Tracker(), frames)
    assert all(len(s) == 1 for s in shown[2:])
    assert {k for s in shown for k in s} == {1}


def test_nested_twin_from_region_passes_is_merged():
    tracker = Tracker()
    frames = [dets((100, 100, 80, 80, 0.9))] * 4
    feed(tracker, frames)
    # a second confirmed track sneaks onto the same face (e.g. from an earlier false box)
    from emocli.video.tracker import Track

    tracker.tracks.append(Track(99, np.array([110, 110, 60, 60], np.float32), 3, hits=5,
                                confirmed=True))
    later = feed_from(tracker, 4, [dets((101, 100, 80, 80, 0.9), (112, 111, 58, 58, 0.8))] * 3,
                      region=True)
    assert all(len(s) == 1 for s in later)
    assert all(1 in s for s in later)


def feed_from(tracker, start, frames, region=False):
    shown = []
    for i, d in enumerate(frames, start):
        tracker.begin_frame(i)
        if region:
            for t in list(tracker.tracks):
                tracker.update_track(t, d)
        else:
            tracker.update(d)
        tracker.end_frame()
        shown.append({t.id: t.box.copy() for t in tracker.confirmed() if t.detected})
    return shown


def test_two_faces_crossing_keep_their_ids():
    frames = []
    for i in range(40):
        a = (50 + 10 * i, 100, 60, 60, 0.9)  # moving right
        b = (450 - 10 * i, 100, 60, 60, 0.9)  # moving left
        # while they overlap, only the face in front (a) is seen
        overlap = abs(a[0] - b[0]) < 60
        frames.append(dets(a) if overlap else dets(a, b))
    shown = feed(Tracker(TrackerConfig(max_coast=12)), frames)
    first = shown[5]
    last = shown[-1]
    assert len(first) == len(last) == 2
    ids_left_to_right = lambda s: [k for k, _ in sorted(s.items(), key=lambda kv: kv[1][0])]  # noqa: E731
    assert ids_left_to_right(first) == ids_left_to_right(last)[::-1]  # they swapped sides


def test_a_small_face_walking_fast_keeps_one_track():
    """A 30 px face moving 16 px a frame (its IoU from one look to the next is 0.27)
    with full passes every frame: one track, never a twin (issue 23's crowd at 1080p)."""
    frames = [dets((100 + 16 * i, 200 + 3 * i, 30 + i // 3, 30 + i // 3, 0.9)) for i in range(30)]
    tracker = Tracker()
    shown = feed(tracker, frames)
    assert {k for s in shown for k in s} == {1}
    assert all(len(s) == 1 for s in shown[2:])


def test_a_new_face_missed_once_is_still_confirmed():
    face = dets((100, 100, 24, 24, 0.9))
    shown = feed(Tracker(), [face, face, Detections.empty(), face, face])
    assert shown[-1].keys() == {1}
    gone = feed(Tracker(), [face, Detections.empty(), Detections.empty(), face])
    assert gone[-1] == {}  # missed twice in a row: it was a ghost; the new look starts over


def test_face_leaving_and_coming_back():
    face = dets((200, 100, 60, 60, 0.9))
    short_gap = [face] * 5 + [Detections.empty()] * 6 + [face] * 5
    shown = feed(Tracker(TrackerConfig(max_coast=12)), short_gap)
    assert {k for s in shown for k in s} == {1}  # the same id after a short absence
    assert all(not s for s in shown[5:11])  # nothing drawn while it is away
    long_gap = [face] * 5 + [Detections.empty()] * 20 + [face] * 5
    shown = feed(Tracker(TrackerConfig(max_coast=12)), long_gap)
    assert {k for s in shown for k in s} == {1, 2}  # a new track once the old one has ended
    assert all(len(s) == 1 for s in shown[27:])


def test_one_frame_false_positive_is_never_confirmed():
    face = (200, 100, 60, 60, 0.9)
    frames = [dets(face)] * 5 + [dets(face, (400, 300, 50, 50, 0.95))] + [dets(face)] * 5
    shown = feed(Tracker(), frames)
    assert {k for s in shown for k in s} == {1}
    assert all(len(s) <= 1 for s in shown)


def test_region_pass_never_starts_a_track():
    tracker = Tracker()
    feed(tracker, [dets((100, 100, 50, 50, 0.9))] * 3)
    # a region pass that returns the tracked face and another one elsewhere
    later = feed_from(tracker, 3, [dets((101, 100, 50, 50, 0.9), (300, 300, 50, 50, 0.99))] * 5,
                      region=True)
    assert [t.id for t in tracker.tracks] == [1]
    assert all(list(s) == [1] for s in later)


def test_birth_score_and_coverage_block_new_tracks():
    tracker = Tracker(birth_score=0.7)
    shown = feed(tracker, [dets((100, 100, 50, 50, 0.6))] * 5)
    assert shown == [{}] * 5 and tracker.confirmed() == []
    feed_from(tracker, 5, [dets((100, 100, 50, 50, 0.9))] * 3)
    # a loose box around the known face while it is briefly lost is not a second face
    feed_from(tracker, 8, [dets((80, 80, 120, 120, 0.9))] * 2)
    assert [t.id for t in tracker.tracks] == [1]



def test_a_dim_face_is_followed_below_the_birth_score_and_confirmed_when_it_reaches_it():
    """A face scoring under the birth score (dim, small) is followed from its first full pass,
    unshown; once one detection reaches the birth score it is confirmed with that first id, so
    the frames held since then can show it."""
    tracker = Tracker(birth_score=0.95)
    scores = [0.91, 0.92, 0.9, 0.93, 0.96, 0.94]
    shown = feed(tracker, [dets((100 + i, 100, 40, 40, s)) for i, s in enumerate(scores)])
    assert shown[:4] == [{}] * 4
    assert [list(s) for s in shown[4:]] == [[1], [1]]
    assert [t.id for t in tracker.tracks] == [1] and tracker.tracks[0].hits == 6

# -- smoothing --------------------------------------------------------------------------------
def test_hysteresis_holds_a_label_through_noise_and_follows_a_change():
    rng = np.random.default_rng(0)
    fps, smoother = 25.0, LabelSmoother(SmoothingConfig())
    labels, raw_labels = [], []
    for i in range(250):  # 10 s: 5 s of a near tie happy/neutral, then clearly sad
        p = np.full(7, 0.02)
        if i < 125:
            p[3], p[6] = (0.45, 0.43) if rng.random() < 0.5 else (0.43, 0.45)
        else:
            p[4] = 0.8
        p /= p.sum()
        smoother.update(p, i / fps)
        labels.append(smoother.label)
        raw_labels.append(int(p.argmax()))
    assert flips_per_second(raw_labels[:125], 5) > 5
    assert flips_per_second(labels[:125], 5) == 0
    switch = labels.index(4)
    assert 125 <= switch <= 125 + 0.5 * fps  # follows the real change within half a second


def test_a_run_of_unsure_answers_cannot_flip_a_sure_label(monkeypatch):
    """A 12-px face's answers (top probability 0.38, the lead rotating among three emotions,
    one every 0.24 s: a 16.7 fps clip classified every 4th frame) leave a sure label alone for
    3 s, where the same answers each counted in full flip it 7 times; a sure change then shows
    at its first answer either way."""
    def run() -> list[int]:
        smoother, labels = LabelSmoother(SmoothingConfig()), []
        smoother.update(np.array([0.02, 0.02, 0.02, 0.02, 0.86, 0.02, 0.04]), 0.0)
        for i in range(1, 13):
            p = np.full(7, 0.08)
            p[[0, 6, 4][i % 3]], p[[6, 4, 0][i % 3]] = 0.38, 0.22
            smoother.update(p, 0.24 * i)
            labels.append(smoother.label)
        for i in range(13, 17):
            smoother.update(np.array([0.02, 0.01, 0.02, 0.85, 0.03, 0.02, 0.05]), 0.24 * i)
            labels.append(smoother.label)
        return labels

    weighed = run()
    monkeypatch.setattr("emocli.video.smoothing.sureness", lambda p: 1.0)  # plain average
    plain = run()
    assert weighed == [4] * 12 + [3] * 4
    assert sum(a != b for a, b in zip(plain[:12], [4] + plain[:11])) == 7 and plain[12:] == [3] * 4


def test_smoothing_is_in_seconds_not_frames():
    def settle(fps):
        s = LabelSmoother(SmoothingConfig(tau=0.3, margin=0.0))
        s.update(np.eye(7)[3], 0.0)
        frames = 0
        while s.label != 4:
            frames += 1
            s.update(np.eye(7)[4], frames / fps)
        return frames / fps

    assert settle(15) == pytest.approx(settle(60), abs=0.07)


# -- crops ------------------------------------------------------------------------------------
@pytest.mark.parametrize("degrees", [-20, -8, 8, 20])
def test_levelled_crop_has_level_eyes(degrees):
    image = np.full((200, 200), 128, np.uint8)
    centre = np.array([100.0, 100.0])
    t = math.radians(degrees)
    eyes = [centre + 25 * np.array([math.cos(t), math.sin(t)]) * s + [0, -10] for s in (-1, 1)]
    for e in eyes:
        cv2.circle(image, tuple(int(round(v)) for v in e), 4, 0, -1)
    landmarks = np.array([eyes[1], eyes[0], centre, centre, centre])  # right eye first
    angle = eye_angle(landmarks)
    assert angle == pytest.approx(degrees, abs=1.5)
    crop = face_crop(image, np.array([50, 50, 100, 100]), angle, margin=0.0, size=48)
    dark = np.argwhere(crop < 64)
    left, right = dark[dark[:, 1] < 24], dark[dark[:, 1] >= 24]
    assert abs(left[:, 0].mean() - right[:, 0].mean()) < 1.5  # same row: level
    unlevelled = face_crop(image, np.array([50, 50, 100, 100]), 0.0, margin=0.0, size=48)
    d = np.argwhere(unlevelled < 64)
    assert abs(d[d[:, 1] < 24][:, 0].mean() - d[d[:, 1] >= 24][:, 0].mean()) > 2.5


def test_crop_without_angle_is_a_plain_resize():
    image = np.random.default_rng(1).integers(0, 255, (300, 300), np.uint8)
    crop = face_crop(image, np.array([100, 100, 96, 96]), 0.0, margin=0.0, size=48)
    expected = cv2.resize(image[100:196, 100:196], (48, 48), interpolation=cv2.INTER_AREA)
    assert np.abs(crop.astype(int) - expected).mean() < 3


def test_crops_of_a_colour_frame_are_those_of_its_gray_copy():
    """face_crops turns only each face gray: the crops are exactly the whole frame's, for
    faces inside, across the edges and levelled."""
    frame = cv2.imread(str(MEDIA / "faces/fnp_multiface.jpg"))
    height, width = frame.shape[:2]
    boxes = np.array([[40, 30, 80, 90], [-20, -10, 70, 60], [width - 50, height - 40, 90, 80],
                      [width / 2, height / 3, 120, 120]], np.float32)
    tilted = np.array([[0, 0], [40, 20], [20, 30], [5, 50], [35, 55]], np.float32)
    marks = [None, None, None, tilted + boxes[3, :2]]
    gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    assert level_angle(marks[3]) != 0.0  # the last face is levelled
    assert np.array_equal(face_crops(frame, boxes, marks), face_crops(gray, boxes, marks))


def test_eye_angle_ignores_missing_or_absurd_landmarks():
    assert eye_angle(None) == 0.0
    assert eye_angle(np.array([[0, 0], [0, 50], [0, 0], [0, 0], [0, 0]], np.float32)) == 0.0


# -- detectors --------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list_detectors(installed_only=True))
def test_every_installed_detector_on_real_photos(name):
    detector = create_detector(name)
    face = cv2.imread(str(MEDIA / "justin.jpg"))
    found = detector.detect(face)
    assert len(found) == 1
    x, y, w, h = found.boxes[0]
    assert 0 <= x and 0 <= y and x + w <= face.shape[1] + 2 and y + h <= face.shape[0] + 2
    assert 80 < w < 260
    if found.landmarks is not None:  # the eyes lie in the upper half of the box
        eyes = found.landmarks[0, :2]
        assert ((eyes[:, 1] > y) & (eyes[:, 1] < y + h / 2)).all()
    assert len(detector.detect(cv2.imread(str(MEDIA / "no-faces.jpg")))) == 0


def _yuface_both():
    """yuface's own binding and emocli's GIL-free call of the same library."""
    pytest.importorskip("yuface")
    from yuface.yuface import detect as binding

    from emocli.video.detectors import _without_gil

    free = _without_gil()
    assert free is not None  # the wheel's library exports facedetect_cnn
    return binding, free


@pytest.mark.parametrize("photo", ["justin.jpg", "faces/fnp_multiface.jpg",
                                   "faces/dlib_2007_007763.jpg", "faces/pyfeat_multi_face.jpg"])
def test_yunet_without_the_gil_finds_what_yuface_finds_in_frames_and_regions(photo):
    binding, free = _yuface_both()
    image = cv2.imread(str(MEDIA / photo))
    region = image[40:300, 20:330]  # a view: rows a whole frame apart, read in place
    assert not region.flags.c_contiguous
    for frame in (image, region):
        ours, theirs = free(frame), binding(np.ascontiguousarray(frame))
        assert len(ours) >= (1 if frame is image else 0)
        np.testing.assert_array_equal(ours[:, :15], theirs[:, :15])  # the 16th is unused
    flipped = image[::-1]  # rows that run backwards are copied first
    np.testing.assert_array_equal(free(flipped)[:, :15],
                                  binding(np.ascontiguousarray(flipped))[:, :15])


def test_yunet_without_the_gil_refuses_what_yuface_refuses():
    """A frame that is not 3 channels is refused, never read past its end."""
    binding, free = _yuface_both()
    for frame in (np.zeros((64, 64), np.uint8), np.zeros((64, 64, 4), np.uint8)):
        for detect in (binding, free):
            with pytest.raises(RuntimeError, match="3-channel"):
                detect(frame)


def test_two_yunet_detectors_in_two_threads_find_what_one_finds_alone():
    """After its first call, the library runs calls from several threads at once (a full pass
    runs ahead beside the region passes), each with buffers of its own."""
    import threading

    from emocli.video.detectors import _without_gil

    _yuface_both()
    first, second = _without_gil(), _without_gil()
    images = []
    for name in ("faces/fnp_multiface.jpg", "faces/dlib_2007_007763.jpg", "justin.jpg"):
        photo = cv2.imread(str(MEDIA / name))
        images += [cv2.resize(photo, (1280, 720)), cv2.resize(photo, (640, 360)),
                   photo[40:200, 30:190]]  # a region, read in place
    alone = [first(image)[:, :15].copy() for image in images]  # the 16th short is unused
    wrong = [0, 0]

    def run(detect, slot, order):
        for _ in range(8):
            for i in order:
                wrong[slot] += not np.array_equal(detect(images[i])[:, :15], alone[i])

    order = list(range(len(images)))
    threads = [threading.Thread(target=run, args=(first, 0, order)),
               threading.Thread(target=run, args=(second, 1, order[::-1]))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(len(faces) >= 5 for faces in alone) >= 3 and wrong == [0, 0]


def test_yunet_lets_other_threads_run_while_it_detects():
    import threading

    binding, free = _yuface_both()
    frame = cv2.resize(cv2.imread(str(MEDIA / "faces/fnp_multiface.jpg")), (1280, 720))

    def others_progress(detect) -> int:
        """Loops another Python thread makes while `detect` runs on a 720p frame 3 times."""
        count, stop = [0], threading.Event()

        def spin():
            while not stop.is_set():
                count[0] += 1

        thread = threading.Thread(target=spin)
        thread.start()
        for _ in range(3):
            detect(frame)
        stop.set()
        thread.join()
        return count[0]

    held, released = others_progress(binding), others_progress(free)
    assert released > 4 * held, (held, released)  # measured 22x


def test_auto_prefers_the_best_installed_detector():
    installed = list_detectors(installed_only=True)
    assert resolve_detector_name("auto") == [n for n in ("yunet", "mtcnn", "haar")
                                             if n in installed][0]
    with pytest.raises(EmocliError, match="unknown detector"):
        resolve_detector_name("magic")


def test_working_scale_keeps_small_faces_findable():
    assert working_scale((270, 480, 3), 16, 16) == 1.0  # 480x270: no downscaling
    assert working_scale((1080, 1920, 3), 16, 16) == pytest.approx(2 / 3)  # capped at 720p
    assert working_scale((1080, 1920, 3), 48, 16) == pytest.approx(1 / 3)  # big faces only


def test_only_clear_tilts_are_levelled():
    def marks(degrees):
        t = math.radians(degrees)
        return np.array([[100 + 30 * math.cos(t), 100 + 30 * math.sin(t)],
                         [100 - 30 * math.cos(t), 100 - 30 * math.sin(t)], [0, 0], [0, 0], [0, 0]])

    assert level_angle(marks(5)) == 0.0
    assert level_angle(marks(-20)) == pytest.approx(-20)


@pytest.mark.parametrize("shape", [(240, 317), (1080, 1920)])
def test_a_label_drawn_from_the_cache_is_the_label_drawn_directly(shape):
    """The tag (filled box, anti-aliased text) is drawn once and pasted: the same pixels as
    OpenCV drawing it on the frame, above the box and below it at the top edge."""
    image = cv2.imread(str(MEDIA / "justin.jpg"))
    height, width = shape
    frame = cv2.resize(image, (width, height))
    scale = max(shape) / 640
    thick, font = max(1, round(2 * scale)), cv2.FONT_HERSHEY_SIMPLEX
    for (x, y), label in zip([(width // 3, height // 2), (width // 4, 1)], COLOURS):
        box = np.array([x, y, width // 6, height // 5], np.float32)
        first, drawn, direct = frame.copy(), frame.copy(), frame.copy()
        draw(first, box, label, 0.873)
        draw(drawn, box, label, 0.873)  # from the cache
        w, h = int(box[2]), int(box[3])
        cv2.rectangle(direct, (x, y), (x + w, y + h), COLOURS[label], thick, cv2.LINE_AA)
        (tw, th), base = cv2.getTextSize(f"{label} 87%", font, 0.6 * scale, thick)
        top = y - th - base - 2 * thick if y - th - base - 2 * thick >= 0 else y + h
        cv2.rectangle(direct, (x, top), (x + tw + 2 * thick, top + th + base + 2 * thick),
                      COLOURS[label], -1)
        cv2.putText(direct, f"{label} 87%", (x + thick, top + th + thick), font, 0.6 * scale,
                    (0, 0, 0), thick, cv2.LINE_AA)
        assert (drawn != frame).any()
        assert np.array_equal(first, direct) and np.array_equal(drawn, direct)


def test_a_label_past_the_frame_edge_is_clipped():
    frame = np.full((60, 80, 3), 255, np.uint8)
    for box in ([70, 5, 30, 30], [-20, 50, 30, 30], [-100, -100, 10, 10]):
        draw(frame, np.array(box, np.float32), "happy", 0.5)
    assert frame.shape == (60, 80, 3)
    assert (frame == COLOURS["happy"]).all(2).any()


def _resident() -> int:
    import os

    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_freed_frames_stay_in_the_process_while_a_video_runs_and_go_back_after():
    """With glibc, `memory_kept` (around every annotate run) keeps freed 1080p frames for the
    next ones instead of handing them back to the system; once the last (outer) run ends,
    they go back."""
    from emocli.video import media

    if media._glibc() is None:
        pytest.skip("glibc's malloc only")
    frame_bytes = 1080 * 1920 * 3
    with media.memory_kept():
        with media.memory_kept():  # an inner run's end gives nothing back yet
            frames = [np.ones((1080, 1920, 3), np.uint8) for _ in range(24)]
        touched = _resident()
        del frames
        kept = _resident()
        again = [np.ones((1080, 1920, 3), np.uint8) for _ in range(24)]
        reused = _resident()
        del again
    after = _resident()
    assert touched - kept < 4 * frame_bytes  # freed, but still the process's
    assert reused - kept < 4 * frame_bytes  # the next frames took the same memory
    assert kept - after > 16 * frame_bytes  # handed back at the end
