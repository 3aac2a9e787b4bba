"""Subcommands whose issue has not landed yet: they say so instead of faking output."""

from __future__ import annotations

from emocli.errors import EmocliError


def not_yet(command: str):
    def pending() -> None:
        raise EmocliError(f"`emocli {command}` is not implemented yet in this version")

    pending.__doc__ = f"(not implemented yet) {command}"
    return pending
