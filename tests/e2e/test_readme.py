"""The README's commands, run as a newcomer runs them.

The set-up line runs in a fresh environment with PEP 668's marker: an interpreter laid
out as a distribution's (its binary copied, its standard library linked, pip beside it)
whose standard library holds EXTERNALLY-MANAGED, as Debian 12's and Ubuntu 24.04's do.
There `pip install -e .` must fail and the README's line must succeed.

What is substituted, and why (each is printed when the test runs):
- the `sudo apt-get install ...` part is not run (it needs root and changes the
  machine); the tools it installs are checked for instead (venv's ensurepip, bwrap);
- `nox -s tests` runs one test module (`-- tests/test_matrix.py`): the whole suite would
  run this test again, inside itself;
- of the Development block, `nox -s lint` runs; tests, e2e, typecheck and perf are
  checked to be sessions (`nox -l`), since they are the suite itself or take its time.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.registry, pytest.mark.timeout(1800)]

REPO = Path(__file__).resolve().parents[2]
MARKER = "[externally-managed]\nError=This Python is managed by the system (PEP 668 test).\n"


def sh_blocks(text: str) -> list[list[str]]:
    """The commands of each ```sh block: one per line, comments dropped."""
    blocks = re.findall(r"```sh\n(.*?)```", text, flags=re.S)
    return [
        [c for c in (line.split(" #")[0].strip() for line in block.splitlines()) if c]
        for block in blocks
    ]


def test_the_readme_starts_with_two_commands() -> None:
    first = sh_blocks((REPO / "README.md").read_text())[0]
    assert len(first) == 2, first
    setup, tests = first
    assert "python3 -m venv .venv && . .venv/bin/activate" in setup
    assert setup.endswith("pip install -e . && bench run matrix.yaml")
    assert tests.endswith("nox -s tests")
    ci = (REPO / ".ci" / "run").read_text()
    assert tests in ci.splitlines(), "CI must run the README's test command as written"


def _marked_interpreter(root: Path) -> Path:
    """A venv-less interpreter whose standard library carries PEP 668's marker."""
    stdlib = Path(sysconfig.get_paths(vars={"installed_base": sys.base_prefix,
                                            "base": sys.base_prefix})["stdlib"])  # fmt: skip
    exe = Path(os.path.realpath(getattr(sys, "_base_executable", sys.executable)))
    bin_dir = root / "bin"
    bin_dir.mkdir(parents=True)
    shutil.copy2(exe, bin_dir / "python3")
    lib = root / "lib" / stdlib.name
    lib.mkdir(parents=True)
    for entry in stdlib.iterdir():
        if entry.name != "site-packages":
            (lib / entry.name).symlink_to(entry)
    for shared in (Path(sys.base_prefix) / "lib").glob("libpython*"):
        (root / "lib" / shared.name).symlink_to(shared)
    site = lib / "site-packages"
    site.mkdir()
    pip = pytest.importorskip("pip", reason="pip is needed to lay out a system-like Python")
    (site / "pip").symlink_to(Path(pip.__file__).parent)
    (lib / "EXTERNALLY-MANAGED").write_text(MARKER)
    (bin_dir / "pip").write_text('#!/bin/sh\nexec "$(dirname "$0")/python3" -m pip "$@"\n')
    (bin_dir / "pip").chmod(0o755)
    return bin_dir


def _copy_repo(dest: Path) -> Path:
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True,
                            check=False)  # fmt: skip
    if listed.returncode != 0:
        pytest.skip(f"git ls-files failed in {REPO}: the copy needs the tracked files")
    for name in filter(None, listed.stdout.decode().split("\0")):
        if (REPO / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, dest / name)
    return dest


def _bash(command: str, cwd: Path, env: dict[str, str], timeout: int) -> str:
    print(f"$ {command}")
    done = subprocess.run(["bash", "-c", f"set -e\n{command}"], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout,
                          check=False)  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"{command} exited {done.returncode}:\n{output[-4000:]}"
    return done.stdout


def _without_apt(command: str) -> str:
    """The README's line less its `sudo apt-get install` part, whose tools are checked."""
    first, _, rest = command.partition(" && ")
    assert first.startswith("sudo apt-get install"), first
    packages = [p for p in first.split()[3:] if not p.startswith("-")]
    print(f"not run (root, changes the machine): {first}; checking what {packages} provide")
    if "bubblewrap" in packages and shutil.which("bwrap") is None:
        print("bwrap is missing here: the demo runs with sandboxes NOT isolated")
    return rest


def test_readme_setup_in_a_pep668_environment_then_its_tests(tmp_path: Path) -> None:
    setup, tests = sh_blocks((REPO / "README.md").read_text())[0]
    bin_dir = _marked_interpreter(tmp_path / "system-python")
    clone = _copy_repo(tmp_path / "coldbench")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTHON", "VIRTUAL_ENV", "BENCH_", "NOX"))}  # fmt: skip
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env.update(NO_COLOR="1", COLUMNS="120", CI="1")

    # Without a virtual environment this Python refuses, as Debian's does.
    refused = subprocess.run(["bash", "-c", "pip install -e ."], cwd=clone, env=env,
                             capture_output=True, text=True, timeout=300,
                             check=False)  # fmt: skip
    assert refused.returncode != 0
    assert "externally-managed-environment" in refused.stdout + refused.stderr

    out = _bash(_without_apt(setup), clone, env, timeout=1500)
    assert "status: complete" in out, out[-3000:]
    assert re.search(r"^report: reports/\S+\.html$", out, flags=re.M), out[-2000:]
    assert (clone / ".venv" / "bin" / "bench").exists()

    # The README's other commands, in the same activated environment.
    blocks = sh_blocks((REPO / "README.md").read_text())
    activate = ". .venv/bin/activate && "
    for block in blocks[1:]:
        for command in block:
            if command.startswith("bench "):
                _bash(activate + command, clone, env, timeout=300)

    print("substituted: the test command runs one module, not the suite containing this test")
    _bash(tests + " -- -q tests/test_matrix.py", clone, env, timeout=1500)

    listed = _bash(activate + "nox -l", clone, env, timeout=120)
    for block in blocks[1:]:
        for command in block:
            if command.startswith("nox -s "):
                for session in command.removeprefix("nox -s ").split():
                    assert re.search(rf"^[*-] {session}\b", listed, flags=re.M), session
    _bash(activate + "nox -s lint", clone, env, timeout=600)
