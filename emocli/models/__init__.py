"""Models: the generic registry, the architectures registered in it, checkpoints, and the
bundled weights with their metadata. Public names load on first use (no torch until then)."""

from emocli._lazy import lazy_names

__getattr__, __all__ = lazy_names(__name__, {
    "Registry": "emocli.models.registry",
    "registered_names": "emocli.models.names",
    "PLUGIN_GROUPS": "emocli.models.names",
    "ARCHITECTURES": "emocli.models.factory",
    "register_model": "emocli.models.factory",
    "create_model": "emocli.models.factory",
    "list_models": "emocli.models.factory",
    "get_spec": "emocli.models.factory",
    "resolve_args": "emocli.models.factory",
    "describe": "emocli.models.factory",
    "load_checkpoint": "emocli.models.checkpoint",
    "save_checkpoint": "emocli.models.checkpoint",
    "export_checkpoint": "emocli.models.checkpoint",
    "BUNDLED": "emocli.models.bundled",
    "BundledModel": "emocli.models.bundled",
    "describe_bundled": "emocli.models.bundled",
    "DEFAULT_MODEL": "emocli.models.bundled",
    "TTA": "emocli.models.bundled",
    "RUNTIMES": "emocli.models.bundled",
    "bundled_model_path": "emocli.models.bundled",
    "model_files": "emocli.models.bundled",
})
