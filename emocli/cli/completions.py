"""Shell completion scripts generated from the app (`python -m emocli.cli.completions`)."""

from __future__ import annotations

from pathlib import Path

from typer._completion_shared import get_completion_script

SHELLS = ("bash", "zsh", "fish")


def completion_script(shell: str) -> str:
    return get_completion_script(prog_name="emocli", complete_var="_EMOCLI_COMPLETE", shell=shell)


def write_all(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for shell in SHELLS:
        path = folder / f"emocli.{shell}"
        path.write_text(completion_script(shell))
        paths.append(path)
    return paths


if __name__ == "__main__":
    for written in write_all(Path(__file__).resolve().parents[2] / "completions"):
        print(written)
