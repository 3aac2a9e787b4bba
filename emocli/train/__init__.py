"""Training: the configuration (the only defaults), the trainer, augmentation, the optimizer and
schedule registries, and sweeps. Public names load on first use (no torch until then)."""

from emocli._lazy import lazy_names

__getattr__, __all__ = lazy_names(__name__, {
    "TrainConfig": "emocli.train.config",
    "load_run_config": "emocli.train.config",
    "fit": "emocli.train.trainer",
    "Trainer": "emocli.train.trainer",
    "TrainResult": "emocli.train.trainer",
    "Reporter": "emocli.train.trainer",
    "AugmentConfig": "emocli.train.augment",
    "augment_batch": "emocli.train.augment",
    "OPTIMIZERS": "emocli.train.optim",
    "SCHEDULES": "emocli.train.optim",
    "register_optimizer": "emocli.train.optim",
    "register_schedule": "emocli.train.optim",
    "create_optimizer": "emocli.train.optim",
    "get_optimizer": "emocli.train.optim",
    "get_schedule": "emocli.train.optim",
    "list_optimizers": "emocli.train.optim",
    "list_schedules": "emocli.train.optim",
    "describe_optimizers": "emocli.train.optim",
    "BACKENDS": "emocli.train.sweep",
    "expand_grid": "emocli.train.sweep",
    "parse_layers": "emocli.train.sweep",
    "default_sweep_dir": "emocli.train.sweep",
    "probe_seconds_per_epoch": "emocli.train.sweep",
    "run_sweep": "emocli.train.sweep",
})
