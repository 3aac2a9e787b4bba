"""Values the shell completes for options, from plain data: no torch, no OpenCV."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from emocli.models import BUNDLED, RUNTIMES, TTA, registered_names


def _starting(values: Callable[[], Iterable[str]]) -> Callable[[str], list[str]]:
    return lambda incomplete: [v for v in values() if v.startswith(incomplete)]


architectures = _starting(lambda: registered_names("architecture"))
optimizers = _starting(lambda: registered_names("optimizer"))
schedules = _starting(lambda: registered_names("schedule"))
detectors = _starting(lambda: ["auto", *registered_names("detector")])
bundled_models = _starting(lambda: BUNDLED)
tta_modes = _starting(lambda: TTA)
runtimes = _starting(lambda: RUNTIMES)
