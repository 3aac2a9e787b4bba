"""The command line: `emocli` and `python -m emocli`."""

from emocli.cli.app import app


def main() -> None:
    app(prog_name="emocli")


__all__ = ["app", "main"]
