"""Atomic writes: an output is either complete or absent, never half-written."""

from __future__ import annotations

import contextlib
import os
import signal
import stat
import tempfile
import threading
from glob import escape as glob_escape
from collections.abc import Iterator
from pathlib import Path

from emocli.errors import EmocliError, JobFailed


def streams(target: Path) -> bool:
    """Whether `target` is written in place, not replaced: a device, a FIFO, a socket,
    `/dev/stdout` or `/dev/fd/N` (a shell's `>(...)`); renaming over those would swap the
    special file for an ordinary one and its reader would never see a byte."""
    if str(target).startswith(("/dev/", "/proc/")):
        return True
    try:
        mode = target.stat().st_mode  # follows links: a link to a FIFO is a FIFO
    except OSError:
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


@contextlib.contextmanager
def interrupt_deferred() -> Iterator[None]:
    """Hold Ctrl-C and `kill` (SIGINT and SIGTERM, where Python handlers take them: the
    default one and emocli's raise KeyboardInterrupt) until the block is done, then hand the
    first to its handler: e.g. until a new temporary file, or a started child process, is
    known to the code that removes or stops it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    handlers = {s: h for s, h in handlers.items() if callable(h)}
    caught: list = []
    for signum in handlers:
        signal.signal(signum, lambda *received: caught.append(received))
    try:
        yield
    finally:
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
    for signum, frame in caught[:1]:
        handlers[signum](signum, frame)


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside `target`; rename it onto `target` only on success.
    A special file (`streams`) is yielded itself and written in place."""
    target = Path(target)
    if streams(target):
        yield target
        return
    if target.is_symlink():  # replace the file the link names, not the link
        target = target.resolve()
    tmp_path = None
    try:
        # a Ctrl-C while the file is being made is handed on once `finally` knows the file
        with interrupt_deferred():
            try:  # the user hears about the file they asked for, never a temporary name
                target.parent.mkdir(parents=True, exist_ok=True)
                _remove_stale(target)
                fd, tmp = tempfile.mkstemp(prefix=f"{_TMP_PREFIX(target)}{os.getpid()}.",
                                           suffix=suffix or target.suffix, dir=target.parent)
            except OSError as exc:
                raise EmocliError(f"{target}: cannot be written ({exc.strerror or exc})") from None
            tmp_path = Path(tmp)
            os.close(fd)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_path, 0o666 & ~umask)  # mkstemp's 0600 is not what a user's output gets
        yield tmp_path
        os.replace(tmp_path, target)
    except OSError as exc:  # a full or read-only disk: the user's path and the OS's reason
        raise JobFailed(f"{target}: {(exc.strerror or str(exc)).lower()}") from None
    except RuntimeError:  # torch.save reports a full disk as an "enforce fail"
        if not _full(target.parent):
            raise
        raise JobFailed(f"{target}: no space left on device") from None
    except EmocliError as exc:  # a writer that names the temporary file
        if tmp_path is None or str(tmp_path) not in str(exc):
            raise
        error = JobFailed(str(exc).replace(str(tmp_path), str(target)))
        raise error from None
    finally:
        if tmp_path is not None:
            tmp_path.unlink(missing_ok=True)


def _TMP_PREFIX(target: Path) -> str:  # noqa: N802 - a name pattern, spelled once
    return f".{target.name}.emocli-"


def _remove_stale(target: Path) -> None:
    """Temporary files of earlier runs for this output whose process is gone (`kill -9`, a
    power cut): the pid in their names says whose they are."""
    prefix = _TMP_PREFIX(target)
    for tmp in target.parent.glob(f"{glob_escape(prefix)}*"):
        pid = tmp.name[len(prefix):].split(".", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            with contextlib.suppress(OSError):
                tmp.unlink()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # someone else's process
        return True
    return True


def _full(folder: Path) -> bool:
    try:
        stats = os.statvfs(folder)
    except OSError:
        return False
    return stats.f_bavail * stats.f_frsize < (1 << 20)


def write_text(target: str | os.PathLike, text: str) -> None:
    with atomic_path(target) as tmp:
        tmp.write_text(text)


def write_csv(target: str | os.PathLike, frame, **to_csv_kwargs) -> None:
    """Write a pandas DataFrame as CSV, atomically, without the index."""
    with atomic_path(target, suffix=".csv") as tmp:
        frame.to_csv(tmp, index=False, **to_csv_kwargs)
