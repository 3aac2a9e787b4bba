"""The Typer application: one thin module per subcommand, errors mapped in one place."""

from __future__ import annotations

from typing import Annotated, Optional

import typer
from typer.completion import completion_init

from emocli import __version__
from emocli.cli import annotate, data, evaluate, export, sweep, train
from emocli.cli.errors import ErrorMappingGroup

# the shipped scripts in completions/ call back into emocli; this makes it answer them
completion_init()

app = typer.Typer(
    name="emocli", cls=ErrorMappingGroup, no_args_is_help=True, add_completion=False,
    pretty_exceptions_enable=False,
    help="Facial emotion recognition: import FER2013, train, sweep, evaluate, annotate video.",
)


def _version(value: bool) -> None:
    if value:
        print(f"emocli {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[Optional[bool], typer.Option(
        "--version", callback=_version, is_eager=True, help="Print the version and exit.")] = None,
) -> None:
    """Facial emotion recognition: import FER2013, train, sweep, evaluate, annotate video."""


app.add_typer(data.app, name="data")
app.command()(train.train)
app.command("evaluate")(evaluate.evaluate_command)
app.command()(annotate.annotate)
app.command()(sweep.sweep)
app.command()(export.export)
