"""Values the shell completes for options, from plain data: no torch, no OpenCV."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from emocli.models.bundled import BUNDLED, TTA
from emocli.models.names import OPTIMIZERS, SCHEDULES, architecture_names
from emocli.video.options import DETECTORS


def _starting(values: Callable[[], Iterable[str]]) -> Callable[[str], list[str]]:
    return lambda incomplete: [v for v in values() if v.startswith(incomplete)]


architectures = _starting(architecture_names)
optimizers = _starting(lambda: OPTIMIZERS)
schedules = _starting(lambda: SCHEDULES)
detectors = _starting(lambda: DETECTORS)
bundled_models = _starting(lambda: BUNDLED)
tta_modes = _starting(lambda: TTA)
