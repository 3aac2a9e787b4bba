"""The CLI conventions: version, help, exit codes, JSON purity, completions."""

import ast
import os
import subprocess
import sys

import pytest
from conftest import ROOT, run

from emocli import __version__
from emocli.cli.completions import SHELLS, completion_script


def test_version():
    result = run("--version")
    assert result.exit_code == 0
    assert result.stdout.strip() == f"emocli {__version__}"


def test_python_dash_m_runs_the_same_app():
    proc = subprocess.run([sys.executable, "-m", "emocli", "--version"], capture_output=True,
                          text=True)
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"emocli {__version__}"


def test_every_subcommand_has_help():
    for command in ("data", "train", "sweep", "evaluate", "annotate"):
        result = run(command, "--help")
        assert result.exit_code == 0, command
        assert "Usage" in result.stdout


def test_unknown_option_is_a_usage_error():
    result = run("train", "--no-such-option")
    assert result.exit_code == 2


def test_errors_are_one_line_without_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "emocli", "data", "info",
                           str(tmp_path / "missing.csv")], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.count("\n") == 1
    assert "Traceback" not in proc.stderr
    assert "missing.csv: no such file or folder" in proc.stderr


def test_debug_shows_the_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "emocli", "data", "info",
                           str(tmp_path / "missing.csv")], capture_output=True, text=True,
                          env={**__import__("os").environ, "EMOCLI_DEBUG": "1"})
    assert proc.returncode != 0
    assert "Traceback" in proc.stderr


def test_completions_are_current():
    for shell in SHELLS:
        shipped = (ROOT / "completions" / f"emocli.{shell}").read_text()
        assert shipped == completion_script(shell), (
            f"completions/emocli.{shell} is stale: run python -m emocli.cli.completions")


def test_shipped_bash_completion_answers(monkeypatch):
    env = {**__import__("os").environ, "_EMOCLI_COMPLETE": "complete_bash",
           "COMP_WORDS": "emocli train --ar", "COMP_CWORD": "2"}
    proc = subprocess.run([sys.executable, "-m", "emocli"], capture_output=True, text=True,
                          env=env)
    assert proc.returncode == 0
    assert set(proc.stdout.split()) == {"--arch", "--arch-arg"}


def test_a_reader_that_goes_away_ends_the_run_quietly():
    # `emocli ... | head`: the write fails with EPIPE midway through the output.
    script = ("import sys, emocli.cli.train as t\n"
              "def show(as_json):\n"
              "    print('first line', flush=True)\n"
              "    raise BrokenPipeError(32, 'Broken pipe')\n"
              "t.show_registry = show\n"
              "from emocli.cli.app import app\n"
              "sys.argv = ['emocli', 'train', '--list']\n"
              "app()\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 1
    assert done.stdout == "first line\n"
    assert done.stderr == ""


HEAVY = {"torch", "cv2", "sklearn", "pandas", "matplotlib"}


@pytest.mark.parametrize("args", [["--version"], ["--help"], ["annotate", "--help"],
                                  ["train", "--help"], ["evaluate", "--help"],
                                  ["sweep", "--help"], ["data", "info", "--help"],
                                  ["export", "--help"]],
                         ids=" ".join)
def test_help_and_version_load_no_heavy_library(args):
    code = ("import sys; from typer.testing import CliRunner; from emocli.cli import app; "
            f"result = CliRunner().invoke(app, {args!r}); assert result.exit_code == 0; "
            f"print(sorted(set({sorted(HEAVY)!r}) & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"


@pytest.mark.parametrize("words,expected", [
    ("emocli train --arch ", {"cnn", "mini_xception", "resnet", "vgg"}),
    ("emocli train --optim n", {"nesterov"}),
    ("emocli train --schedule c", {"constant", "cosine"}),
    ("emocli annotate in.mp4 --detector ", {"auto", "yunet", "mtcnn", "haar"}),
    ("emocli annotate in.mp4 --model ", {"default", "ensemble"}),
    ("emocli evaluate --tta ", {"none", "flip", "tencrop"}),
])
def test_completion_offers_values_without_heavy_libraries(words, expected):
    cword = len(words.split()) - (0 if words.endswith(" ") else 1)
    code = ("import sys, emocli.cli as c\n"
            "try:\n    c.main()\nexcept SystemExit:\n    pass\n"
            f"print('LOADED', sorted(set({sorted(HEAVY)!r}) & set(sys.modules)))")
    env = {**os.environ, "COMP_WORDS": words, "COMP_CWORD": str(cword),
           "_EMOCLI_COMPLETE": "complete_bash"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    lines = out.stdout.strip().splitlines()
    assert lines[-1] == "LOADED []"
    assert set(lines[:-1]) == expected


@pytest.mark.parametrize("args,needle", [
    (["train", "--epochs", "abc"], "Invalid value for '--epochs'"),
    (["nope"], "No such command 'nope'"),
    (["annotate", "--frobnicate"], "No such option: --frobnicate"),
])
def test_usage_errors_are_one_line(args, needle):
    out = subprocess.run([sys.executable, "-m", "emocli", *args], capture_output=True,
                         text=True)
    assert out.returncode == 2
    assert out.stderr.startswith("emocli: error: ") and needle in out.stderr
    assert out.stderr.count("\n") == 1 and out.stdout == ""


def test_no_color_on_a_terminal_prints_no_ansi_codes(tmp_path):
    """A pseudo-terminal, as a person's shell: with NO_COLOR, styled text and a progress bar
    carry no escape codes; without it, they do."""
    import pty

    def on_a_terminal(no_color: bool) -> bytes:
        env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
        if no_color:
            env["NO_COLOR"] = "1"
        code = ("from emocli.cli.output import out\nfrom emocli.cli.progress import make_progress\n"
                "out.print('[bold]table[/bold]')\n"
                "with make_progress('status') as p:\n"
                "    t = p.add_task('x', total=2, status='')\n    p.advance(t)\n")
        pid, fd = pty.fork()
        if pid == 0:
            os.execve(sys.executable, [sys.executable, "-c", code], env)
        chunks = []
        while True:
            try:
                data = os.read(fd, 4096)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
        os.waitpid(pid, 0)
        return b"".join(chunks)

    assert b"\x1b[" in on_a_terminal(no_color=False)
    plain = on_a_terminal(no_color=True)
    assert b"table" in plain and b"\x1b[" not in plain


PUBLIC = ("emocli", "emocli.data", "emocli.models", "emocli.train", "emocli.predict",
          "emocli.video")


def test_the_cli_uses_only_the_public_api():
    """`emocli/cli/` imports the public API (the names the packages export) and its own modules
    only: anything the command line can do, Python code can do the same way."""
    import importlib

    for path in sorted((ROOT / "emocli" / "cli").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                assert not any(a.name.startswith("emocli") for a in node.names), path.name
            if not isinstance(node, ast.ImportFrom) or not (node.module or "").startswith(
                    "emocli") or node.module.startswith("emocli.cli"):
                continue
            assert node.module in PUBLIC, f"{path.name} imports {node.module}"
            exported = importlib.import_module(node.module).__all__
            for alias in node.names:
                assert alias.name in exported, f"{path.name}: {node.module}.{alias.name}"
