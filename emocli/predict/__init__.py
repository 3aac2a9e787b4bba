"""Prediction: loading models (files or bundled), ensembles, test-time augmentation, and
evaluation with scikit-learn's metrics. Public names load on first use."""

from emocli._lazy import lazy_names

__getattr__, __all__ = lazy_names(__name__, {
    "load_model": "emocli.predict.loading",
    "Predictor": "emocli.predict.predictor",
    "DnnPredictor": "emocli.predict.dnn",
    "Ensemble": "emocli.predict.loading",
    "Evaluation": "emocli.predict.evaluation",
    "evaluate": "emocli.predict.evaluation",
    "ensemble": "emocli.predict.evaluation",
    "default_split": "emocli.predict.evaluation",
    "confusion_plot": "emocli.plots",
    "export_onnx": "emocli.predict.export",
})
