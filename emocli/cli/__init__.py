"""The command line: `emocli` and `python -m emocli`."""

import signal

from emocli.cli.app import app


def _terminated(signum, frame) -> None:
    raise KeyboardInterrupt  # `kill`, `timeout`, `docker stop`: clean up as Ctrl-C does


def main() -> None:
    signal.signal(signal.SIGTERM, _terminated)
    app(prog_name="emocli")


__all__ = ["app", "main"]
