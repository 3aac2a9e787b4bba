"""Ray, shared by the commands that spread work over a cluster (sweep, annotate): one way to
reach it, failing in one line where nothing answers."""

from __future__ import annotations

import logging
import socket

from emocli.errors import OptionError

BACKENDS = ("local", "ray")
CONNECT_TIMEOUT = 10.0  # seconds; Ray itself retries a dead address for minutes


def check_reachable(address: str, timeout: float = CONNECT_TIMEOUT) -> None:
    """Fail at once, in one line, when nothing listens at a Ray cluster's HOST:PORT."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise OptionError("address", f"must be HOST:PORT, got {address!r}")
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as exc:
        raise OptionError("address", f"{address}: no Ray cluster answers there "
                          f"({exc.strerror or exc})") from None


def check_address(address: str | None) -> None:
    """A cluster address given by the user answers (None, auto, local: a Ray of our own)."""
    if address not in (None, "auto", "local"):
        check_reachable(address)


def start_ray(address: str | None = None):
    """The `ray` module, connected to the cluster at `address` or to a local Ray started now."""
    try:
        import ray
    except ImportError:
        raise OptionError("backend", "ray needs Ray: pip install 'emocli[ray]'") from None
    check_address(address)
    ray.init(address=None if address == "local" else address, ignore_reinit_error=True,
             log_to_driver=False, include_dashboard=False, logging_level=logging.ERROR)
    return ray
