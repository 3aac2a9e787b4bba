"""FER2013 in every form people have it: readers, the compact cache, the default dataset, and
the one preprocessing shared by training and inference. Public names load on first use."""

from emocli._lazy import lazy_names

__getattr__, __all__ = lazy_names(__name__, {
    "Dataset": "emocli.data.dataset",
    "EMOTIONS": "emocli.data.labels",
    "SPLITS": "emocli.data.labels",
    "read_source": "emocli.data.readers",
    "import_dataset": "emocli.data.store",
    "load_dataset": "emocli.data.store",
    "dataset_path": "emocli.data.store",
    "write_dataset_plots": "emocli.plots",
})
