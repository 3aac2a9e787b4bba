"""Errors that the CLI turns into one line on stderr and an exit code."""


class EmocliError(Exception):
    """Bad usage or bad input: exit code 2."""

    exit_code = 2


class OptionError(EmocliError):
    """A bad setting, named as the library calls it (`batch_size`, `tracker.max_coast`); the
    command line shows its own flag for it (`--batch-size`, `--max-coast`)."""

    def __init__(self, names: str | tuple[str, ...], problem: str):
        self.names = (names,) if isinstance(names, str) else tuple(names)
        self.problem = problem
        super().__init__(self.spelled(str))

    def spelled(self, spell) -> str:
        """The message with each name written by `spell` (e.g. as a command-line flag)."""
        names = [spell(n) for n in self.names]
        joined = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
        return f"{joined} {self.problem}"


class JobFailed(EmocliError):
    """The input was fine but the job could not be done: exit code 1."""

    exit_code = 1


class Interrupted(EmocliError):
    """Stopped by the user (Ctrl-C): exit code 130, like a shell."""

    exit_code = 130
