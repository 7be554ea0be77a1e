"""The README's example runs as written (one epoch instead of three, to stay quick)."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_example_runs(tmp_path, monkeypatch):
    code = re.search(r"```python\n(.*?)```", README.read_text(), re.S).group(1)
    assert "epochs=3" in code
    monkeypatch.chdir(tmp_path)  # it saves mnist.npz in the working directory
    namespace: dict = {}
    exec(compile(code.replace("epochs=3", "epochs=1"), "README.md", "exec"), namespace)
    net, x_test, y_test = namespace["net"], namespace["x_test"], namespace["y_test"]
    assert (net.predict(x_test) == y_test).mean() > 0.9
    assert (tmp_path / "mnist.npz").is_file()
