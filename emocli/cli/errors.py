"""The one place that turns exceptions into exit codes (tracebacks only with EMOCLI_DEBUG=1)."""

from __future__ import annotations

import os
import sys

import typer
from typer.core import TyperGroup

from emocli import EmocliError, OptionError
from emocli.cli.output import error_line

EXIT_FAILED, EXIT_INTERRUPTED = 1, 130  # EmocliError subclasses carry their own codes

# library settings whose flag is not simply `--` + the name with dashes
_FLAGS = {"tracker.min_hits": "--min-hits", "tracker.max_coast": "--max-coast",
          "smoothing.tau": "--smooth-time", "smoothing.margin": "--hysteresis"}


def flag(name: str) -> str:
    """The command-line flag for a library setting's name."""
    return _FLAGS.get(name) or "--" + name.replace("_", "-")


def debug() -> bool:
    return os.environ.get("EMOCLI_DEBUG") == "1"


class ErrorMappingGroup(TyperGroup):
    """A Typer group whose subcommands' errors become one line on stderr and an exit code."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        """Usage errors too are one line (`emocli: error: ...`), not Typer's framed panel."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            code = super().main(args, prog_name, complete_var, False, **extra)
        except Exception as exc:  # click's ClickException, as Typer ships it  # noqa: BLE001
            if not (hasattr(exc, "format_message") and hasattr(exc, "exit_code")):
                raise
            ctx = getattr(exc, "ctx", None)
            hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
            if exc.format_message():  # empty after `emocli` alone, which printed the help
                error_line(f"{exc.format_message()}{hint}")
            sys.exit(exc.exit_code)
        sys.exit(code if isinstance(code, int) else 0)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise
        except EmocliError as exc:
            if debug():
                raise
            error_line(exc.spelled(flag) if isinstance(exc, OptionError) else str(exc))
            raise typer.Exit(exc.exit_code) from None
        except BrokenPipeError:
            # The reader went away (`emocli ... | head`): stop quietly; stdout
            # goes to devnull so that the interpreter's final flush cannot complain either.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise typer.Exit(EXIT_FAILED) from None  # as Rich does on a broken pipe
        except KeyboardInterrupt:
            error_line("interrupted")
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except Exception as exc:  # noqa: BLE001 - the user gets one line, developers the trace
            if debug():
                raise
            first = str(exc).splitlines()[0] if str(exc) else ""
            error_line(f"internal error: {type(exc).__name__}: {first} "
                       "(set EMOCLI_DEBUG=1 for the traceback)")
            raise typer.Exit(EXIT_FAILED) from None
