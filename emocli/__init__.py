"""emocli: facial emotion recognition from the command line and from Python.

    import emocli
    emocli.analyze("photo.jpg")   # [{"box": (x, y, w, h), "label": "happy", ...}]

The names below load on first use, so that `import emocli` (and the CLI's --help) stays light.
"""

from importlib import import_module

__version__ = "0.1.0"

_API = {
    "analyze": "emocli.api",
    "load_model": "emocli.engine.predict",
    "Annotator": "emocli.video.pipeline",
    "AnnotateOptions": "emocli.video.pipeline",
    "annotate_video": "emocli.video.annotate",
    "annotate_image": "emocli.video.annotate",
    "Limits": "emocli.video.sources",
    "parse_source": "emocli.video.sources",
    "JsonLines": "emocli.video.sinks",
    "create_detector": "emocli.video.detectors",
    "list_detectors": "emocli.video.detectors",
    "EMOTIONS": "emocli.data.labels",
    "EmocliError": "emocli.errors",
}
__all__ = ["__version__", *_API]


def __getattr__(name: str):
    if name in _API:
        value = getattr(import_module(_API[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'emocli' has no attribute {name!r}")
