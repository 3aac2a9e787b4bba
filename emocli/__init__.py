"""emocli: facial emotion recognition from the command line and from Python.

    import emocli
    emocli.analyze("photo.jpg")   # [{"box": (x, y, w, h), "label": "happy", ...}]

The public API is the names below and those of the subpackages `emocli.data`, `emocli.models`,
`emocli.train`, `emocli.predict` and `emocli.video`; the command line uses nothing else. Every
name loads on first use, so that `import emocli` (and the CLI's --help) stays light.
"""

from emocli._lazy import lazy_names

__version__ = "0.1.0"

__getattr__, _NAMES = lazy_names(__name__, {
    # faces in an image, video frame by frame, files and streams
    "analyze": "emocli.api",
    "Annotator": "emocli.video.pipeline",
    "AnnotateOptions": "emocli.video.options",
    "annotate_video": "emocli.video.annotate",
    "annotate_image": "emocli.video.annotate",
    "annotate_files": "emocli.video.annotate",
    "parse_source": "emocli.video.sources",
    "Limits": "emocli.video.sources",
    "JsonLines": "emocli.video.sinks",
    "create_detector": "emocli.video.detectors",
    "list_detectors": "emocli.video.detectors",
    # data, training, sweeps, evaluation, models
    "EMOTIONS": "emocli.data.labels",
    "import_dataset": "emocli.data.store",
    "load_dataset": "emocli.data.store",
    "TrainConfig": "emocli.train.config",
    "fit": "emocli.train.trainer",
    "expand_grid": "emocli.train.sweep",
    "run_sweep": "emocli.train.sweep",
    "load_model": "emocli.predict.loading",
    "evaluate": "emocli.predict.evaluation",
    "list_models": "emocli.models.factory",
    "create_model": "emocli.models.factory",
    "register_model": "emocli.models.factory",
    "export_checkpoint": "emocli.models.checkpoint",
    # errors, and the rules every command's outputs follow
    "EmocliError": "emocli.errors",
    "OptionError": "emocli.errors",
    "JobFailed": "emocli.errors",
    "Interrupted": "emocli.errors",
    "Output": "emocli.outputs",
    "check_outputs": "emocli.outputs",
    "atomic_path": "emocli.fileio",
    "write_csv": "emocli.fileio",
    "next_run_dir": "emocli.runs",
    "remove_if_empty": "emocli.runs",
    # spreading work over a Ray cluster (sweep, annotate of a folder)
    "BACKENDS": "emocli.cluster",
    "check_address": "emocli.cluster",
})
__all__ = ["__version__", *_NAMES]
