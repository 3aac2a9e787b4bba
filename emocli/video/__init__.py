"""Video: sources, detectors behind a Protocol, the tracker, crops, drawing, media I/O, sinks and
the annotate pipeline. Public names load on first use (no OpenCV or torch until then)."""

from emocli._lazy import lazy_names

__getattr__, __all__ = lazy_names(__name__, {
    "AnnotateOptions": "emocli.video.options",
    "TrackerConfig": "emocli.video.options",
    "SmoothingConfig": "emocli.video.options",
    "DETECTORS": "emocli.video.options",
    "Source": "emocli.video.sources",
    "Limits": "emocli.video.sources",
    "parse_source": "emocli.video.sources",
    "is_image": "emocli.video.sources",
    "IMAGE_EXTS": "emocli.video.sources",
    "VIDEO_EXTS": "emocli.video.sources",
    "MEDIA_EXTS": "emocli.video.sources",
    "WRITABLE_VIDEO_EXTS": "emocli.video.media",
    "Detector": "emocli.video.detectors",
    "register_detector": "emocli.video.detectors",
    "create_detector": "emocli.video.detectors",
    "list_detectors": "emocli.video.detectors",
    "haar_notice": "emocli.video.detectors",
    "Annotator": "emocli.video.pipeline",
    "Tracker": "emocli.video.tracker",
    "AnnotatedFrame": "emocli.video.pipeline",
    "FaceRow": "emocli.video.pipeline",
    "annotate_video": "emocli.video.annotate",
    "annotate_image": "emocli.video.annotate",
    "annotate_files": "emocli.video.annotate",
    "AnnotateResult": "emocli.video.annotate",
    "JsonLines": "emocli.video.sinks",
    "Window": "emocli.video.sinks",
    "timeline_plot": "emocli.plots",
})
