"""Errors that the CLI turns into one line on stderr and an exit code."""


class EmocliError(Exception):
    """Bad usage or bad input: exit code 2."""

    exit_code = 2


class JobFailed(EmocliError):
    """The input was fine but the job could not be done: exit code 1."""

    exit_code = 1


class Interrupted(EmocliError):
    """Stopped by the user (Ctrl-C): exit code 130, like a shell."""

    exit_code = 130
