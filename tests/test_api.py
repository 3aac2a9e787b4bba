"""The Python API: the examples of docs/api.md run as written, and `import emocli` stays light."""

import re
import subprocess
import sys

import pytest
from conftest import ROOT

EXAMPLES = re.findall(r"```python\n(.*?)```", (ROOT / "docs" / "api.md").read_text(), re.S)


@pytest.mark.parametrize("code", EXAMPLES, ids=[f"example{i}" for i in range(len(EXAMPLES))])
def test_docs_examples_run(code, tmp_path):
    """Each example as a user runs it: a fresh interpreter, from the repository root."""
    script = tmp_path / "example.py"
    script.write_text(code)
    done = subprocess.run([sys.executable, str(script)], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_import_emocli_is_light():
    code = ("import sys, emocli; heavy = {'torch', 'cv2', 'sklearn', 'pandas', 'matplotlib'}; "
            "print(sorted(heavy & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_analyze_refuses_what_is_not_an_image():
    import numpy as np

    import emocli

    with pytest.raises(emocli.EmocliError, match="BGR uint8"):
        emocli.analyze(np.zeros((10, 10, 3), np.float32))
    with pytest.raises(emocli.EmocliError, match="not a readable image"):
        emocli.analyze(ROOT / "README.md")
