"""``pip install`` gives a working ``fastgw`` without Cython at run time: the pure-Python
build (``FASTGW_NO_EXTENSIONS=1``), installed into a fresh virtual environment that has no
Cython, serves a chat completion and a stream. The compiled install (``pip install .`` with a
compiler) is checked by ``make install-check``: it compiles the core, too slow for here."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from openai import OpenAI

from fastgw.testing import GatewayProcess

ROOT = Path(__file__).resolve().parent.parent
_BUILT = shutil.ignore_patterns("*.so", "*.c", "*.html", "__pycache__", "*.egg-info", "build")


def run(*args: str | Path, env: dict[str, str] | None = None) -> str:
    """Run a command outside the source tree (``python -c`` would import fastgw from the
    current directory)."""
    result = subprocess.run(
        [str(a) for a in args],
        cwd=Path(str(args[0])).parent,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=240,
    )
    assert result.returncode == 0, f"{args}: {result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh environment (no system site-packages, no Cython) with the pure build of fastgw
    from a copy of this source tree and its run-time dependencies."""
    tmp = tmp_path_factory.mktemp("install")
    source = tmp / "src"
    shutil.copytree(ROOT / "fastgw", source / "fastgw", ignore=_BUILT)
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy(ROOT / name, source / name)
    wheels = tmp / "wheels"
    no_ext = {"FASTGW_NO_EXTENSIONS": "1"}
    # the build tools of this environment (setuptools), without Cython: no build isolation
    run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
        "-w", wheels, source, env=no_ext)  # fmt: skip
    (wheel,) = wheels.glob("fastgw-*.whl")
    env = tmp / "venv"
    run(sys.executable, "-m", "venv", env)
    run(env / "bin" / "python", "-m", "pip", "install", "-q", wheel)
    return env


@pytest.mark.e2e
@pytest.mark.timeout(300)
def test_the_pure_install_runs_without_cython(venv: Path, tmp_path: Path) -> None:
    """No Cython in the environment; ``fastgw --version``, ``init``, ``check-config`` work,
    and the server answers through the pure twins (the log says ``core: python``)."""
    python = venv / "bin" / "python"
    probe = "import importlib.util as u; print(u.find_spec('cython'), u.find_spec('Cython'))"
    assert run(python, "-c", probe) == "None None\n"
    fastgw = venv / "bin" / "fastgw"
    assert run(fastgw, "--version").startswith("fastgw ")
    config = tmp_path / "fastgw.toml"
    key = run(fastgw, "init", config).split("key:  ")[1].split()[0]
    assert "OK (2 models" in run(fastgw, "check-config", "--strict", config)
    core = Path(run(python, "-c", "import fastgw._core as c; print(c.__file__)").strip())
    assert core.is_relative_to(venv), core
    assert not list(core.parent.glob("*.so")), "the pure build has no extension"
    with GatewayProcess(config.read_text(), python=str(python)) as gateway:
        client = OpenAI(base_url=f"{gateway.base_url}/v1", api_key=key, timeout=10)
        answer = client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
        )
        stream = client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        log = gateway.log()
    assert answer.choices[0].message.content and text
    assert "(core: python" in log  # "(compiled build missing)" unless FASTGW_NO_EXTENSIONS
