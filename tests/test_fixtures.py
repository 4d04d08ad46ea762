"""Fixture packages: sizes that mean what they say, determinism, caching, limits, errors."""

from __future__ import annotations

import json
import stat
import warnings
import zipfile
from pathlib import Path

import pytest

from bench.errors import InputError
from bench.fixtures import (
    Artifact,
    FixtureWarning,
    build_artifact,
    build_matrix_artifacts,
    cache_key,
    check_limits,
    default_cache_dir,
    fixtures_root,
    format_artifacts,
    toolchain,
)
from bench.matrix import AwsTarget, Cell, LocalTarget, parse_matrix
from bench.target import build_platform

MIB = 1 << 20


def cell(runtime: str = "python3.12", kind: str = "none", mb: float = 0.0, **kw: object) -> Cell:
    defaults: dict[str, object] = {"memory_mb": 128, "architecture": "x86_64"}
    defaults.update(kw)
    return Cell(runtime=runtime, package_kind=kind, package_mb=mb, **defaults)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One artifact cache per session: each size is built once."""
    return tmp_path_factory.mktemp("artifacts")


@pytest.mark.parametrize("mb", [1, 5, 20, 50])
def test_inert_is_the_requested_size_zipped_and_unzipped(cache: Path, mb: int) -> None:
    artifact = build_artifact(cell(kind="inert", mb=mb), cache)
    requested = mb * MIB
    print(f"inert {mb} MB: zipped {artifact.zipped_bytes:,} unzipped {artifact.unzipped_bytes:,}")
    assert abs(artifact.unzipped_bytes - requested) <= 0.02 * requested
    assert abs(artifact.zipped_bytes - requested) <= 0.02 * requested
    with zipfile.ZipFile(artifact.zip_path) as archive:
        blobs = [n for n in archive.namelist() if n.startswith("inert/")]
        assert len(blobs) >= mb  # files of about 1 MB, not one giant file


@pytest.mark.parametrize(
    ("runtime", "mb"), [("python3.12", 1), ("python3.12", 20), ("nodejs22.x", 5)]
)
def test_imported_is_the_requested_unzipped_size(cache: Path, runtime: str, mb: int) -> None:
    artifact = build_artifact(cell(runtime, kind="imported", mb=mb), cache)
    requested = mb * MIB
    print(
        f"{runtime} imported {mb} MB: unzipped {artifact.unzipped_bytes:,}"
        f" zipped {artifact.zipped_bytes:,}"
    )
    assert abs(artifact.unzipped_bytes - requested) <= 0.05 * requested
    # Source code compresses well: the zip is much smaller, unlike inert bytes.
    assert artifact.zipped_bytes < 0.5 * requested


def test_imported_python_is_real_code_listed_for_the_handler(cache: Path) -> None:
    artifact = build_artifact(cell(kind="imported", mb=1), cache)
    with zipfile.ZipFile(artifact.zip_path) as archive:
        manifest = json.loads(archive.read("bench_fixture.json"))
        modules = manifest["modules"]
        assert manifest["kind"] == "imported"
        assert modules[0] == "bench_payload"
        assert len(modules) > 10  # many modules of realistic size, not one giant file
        source = archive.read("bench_payload/m000.py").decode()
        assert not any(n.endswith(".pyc") for n in archive.namelist())
    compile(source, "m000.py", "exec")  # valid Python
    assert "\ndef " in source and "\nclass " in source and "= {" in source


def test_zip_entries_are_sorted_dated_1980_with_fixed_modes(cache: Path) -> None:
    artifact = build_artifact(cell(kind="imported", mb=0.2), cache)
    with zipfile.ZipFile(artifact.zip_path) as archive:
        infos = archive.infolist()
    assert [i.filename for i in infos] == sorted(i.filename for i in infos)
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
    for info in infos:
        mode = info.external_attr >> 16
        assert stat.S_IMODE(mode) == (0o755 if info.is_dir() else 0o644), info.filename


def _demo_matrix(**extra: object) -> dict[str, object]:
    data: dict[str, object] = {
        "name": "fx",
        "runtimes": ["python3.12", "nodejs22.x"],
        "memory_mb": [128, 512],
        "architectures": ["x86_64", "arm64"],
        "package": {"size_mb": [0, 1], "kind": ["inert", "imported"]},
        "cold_starts": 2,
        "burst": 1,
    }
    data.update(extra)
    return data


def test_two_builds_of_a_matrix_are_byte_identical(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    matrix = parse_matrix(_demo_matrix())
    builds = []
    for name in ("first", "second"):
        monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path / name))  # no cache sharing
        builds.append(build_matrix_artifacts(matrix))
    first, second = builds
    assert first.keys() == second.keys()
    for cell_id, artifact in first.items():
        assert artifact.zip_path.parent != second[cell_id].zip_path.parent
        assert artifact.zip_path.read_bytes() == second[cell_id].zip_path.read_bytes(), cell_id
        assert artifact.sha256 == second[cell_id].sha256


def test_memory_and_architecture_share_one_artifact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path))
    matrix = parse_matrix(_demo_matrix())
    built = build_matrix_artifacts(matrix)
    assert len(built) == len(matrix.cells()) == 2 * 2 * 2 * 3
    # runtime x (none, inert 1, imported 1): 6 packages for 24 cells.
    assert len({a.zip_path for a in built.values()}) == 6
    assert len(list(tmp_path.glob("*.zip"))) == 6
    a = built["python3.12-128mb-x86_64-inert-1mb"]
    b = built["python3.12-512mb-arm64-inert-1mb"]
    assert a is b
    # A rebuild finds every package in the cache: nothing is written again.
    mtimes = {p: p.stat().st_mtime_ns for p in tmp_path.glob("*.zip")}
    again = build_matrix_artifacts(matrix)
    assert {p: p.stat().st_mtime_ns for p in tmp_path.glob("*.zip")} == mtimes
    assert again["python3.12-128mb-x86_64-inert-1mb"] == a


def test_different_payloads_give_different_packages(cache: Path) -> None:
    shas = {
        build_artifact(cell(kind=kind, mb=mb), cache).sha256
        for kind, mb in [("none", 0), ("inert", 1), ("inert", 2), ("imported", 1)]
    }
    assert len(shas) == 4


def test_cached_artifact_with_a_damaged_zip_is_rebuilt(tmp_path: Path) -> None:
    built = build_artifact(cell(kind="inert", mb=0.5), tmp_path)
    original = built.zip_path.read_bytes()
    built.zip_path.write_bytes(original[:1000])
    rebuilt = build_artifact(cell(kind="inert", mb=0.5), tmp_path)
    assert rebuilt.zip_path.read_bytes() == original


def test_out_dir_gets_readable_copies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path / "cache"))
    matrix = parse_matrix(_demo_matrix(runtimes=["python3.12"], architectures=["x86_64"]))
    built = build_matrix_artifacts(matrix, out_dir=tmp_path / "out")
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert len(names) == 3
    assert names[0].startswith("python3.12-imported-1mb-")
    for artifact in built.values():
        assert artifact.zip_path.parent == tmp_path / "out"
        assert artifact.zip_path.stat().st_size == artifact.zipped_bytes


def _artifact(zipped: int, unzipped: int) -> Artifact:
    return Artifact(
        "k",
        "python3.12",
        "handler.handler",
        "inert",
        1.0,
        Path("x.zip"),
        "ab" * 32,
        zipped,
        unzipped,
        3,
    )


def test_limits_refuse_what_lambda_would_refuse() -> None:
    check_limits({"ok": _artifact(50 * MIB - 64 * 1024, 250 * MIB)}, None)  # at the limits
    with pytest.raises(
        InputError,
        match=r"cell big: package is 262,144,001 bytes unzipped, .*250 MB.*lower package.size_mb",
    ):
        check_limits({"big": _artifact(10 * MIB, 250 * MIB + 1)}, "bucket")
    with pytest.raises(
        InputError,
        match=r"cell zip: package is 52,428,799 bytes zipped; sent directly, CreateFunction's "
        r"request would be 69,921,452 bytes, over Lambda's 69,905,067: set target.artifact_bucket",
    ):
        check_limits({"zip": _artifact(50 * MIB - 1, 60 * MIB)}, None)
    check_limits({"zip": _artifact(50 * MIB + 1, 60 * MIB)}, "my-bucket")


def test_inert_50mb_needs_an_artifact_bucket(cache: Path) -> None:
    # 50 MB of incompressible bytes plus zip headers is just over Lambda's 50 MB.
    artifact = build_artifact(cell(kind="inert", mb=50), cache)
    with pytest.raises(InputError, match="artifact_bucket"):
        check_limits({"c": artifact}, None)
    check_limits({"c": artifact}, "bucket")


def test_format_artifacts_one_row_per_package(cache: Path) -> None:
    from rich.console import Console

    a = build_artifact(cell(kind="inert", mb=1), cache)
    b = build_artifact(cell(kind="none"), cache)
    table = format_artifacts({"x": a, "y": a, "z": b})
    assert table.row_count == 2
    console = Console(width=200, record=True, color_system=None)
    console.print(table)
    text = console.export_text()
    for expected in (
        "runtime",
        "payload kind",
        "zipped bytes",
        "unzipped bytes",
        "files",
        "sha256",
        a.sha256[:12],
        f"{a.zipped_bytes:,}",
        "1 MB",
    ):
        assert expected in text


def test_javac_missing_is_a_clear_input_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(toolchain.shutil, "which", lambda name: None)
    toolchain.javac_version.cache_clear()
    try:
        with pytest.raises(InputError) as info:
            build_artifact(cell("java21"), tmp_path)
    finally:
        toolchain.javac_version.cache_clear()
    assert str(info.value) == (
        "javac not found: install a JDK (e.g. apt-get install openjdk-17-jdk-headless) "
        "to build java21 fixtures"
    )


def test_a_deprecated_runtime_builds_with_a_deprecation_warning(tmp_path: Path) -> None:
    # python3.10 reached end of support on 2026-10-31 but AWS still creates functions on it.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        artifact = build_artifact(cell("python3.10"), tmp_path)
    messages = [str(w.message) for w in caught if issubclass(w.category, FixtureWarning)]
    assert messages and "python3.10 reached end of support on 2026-10-31" in messages[0]
    assert "move to python3.13" in messages[0]
    assert artifact.handler == "handler.handler"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        build_artifact(cell("nodejs22.x"), tmp_path)
    assert not [w for w in caught if issubclass(w.category, FixtureWarning)]


def test_java_package_holds_compiled_classes(cache: Path) -> None:
    if toolchain.shutil.which("javac") is None:
        pytest.skip("javac not found: no JDK on this machine, java packages cannot be built")
    artifact = build_artifact(cell("java21", kind="inert", mb=1), cache)
    assert artifact.handler == "bench.Handler::handleRequest"
    assert abs(artifact.unzipped_bytes - MIB) <= 0.02 * MIB
    with zipfile.ZipFile(artifact.zip_path) as archive:
        names = archive.namelist()
        header = archive.read("bench/Handler.class")[:8]
    assert "bench/Handler.class" in names and not any(n.endswith(".java") for n in names)
    assert header[:4] == b"\xca\xfe\xba\xbe"
    assert int.from_bytes(header[6:8], "big") == 61  # class file version of --release 17


def test_cache_dir_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("BENCH_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "coldbench" / "artifacts"
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path / "mine"))
    assert default_cache_dir() == tmp_path / "mine"


def test_fixture_sources_are_found() -> None:
    root = fixtures_root()
    assert (root / "python" / "handler.py").is_file()
    assert (root / "nodejs" / "index.mjs").is_file()
    assert (root / "java" / "bench" / "Handler.java").is_file()


def test_cli_builds_and_prints_the_table(
    bench_cli,
    workdir: Path,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    monkeypatch.setenv("BENCH_CACHE_DIR", str(workdir / "cache"))
    (workdir / "m.yaml").write_text(
        "name: fx\nruntimes: [python3.12]\nmemory_mb: [128, 256]\n"
        "package: {size_mb: [0, 1], kind: [inert]}\ncold_starts: 1\nburst: 1\n"
    )
    result = bench_cli("fixtures", "build", "m.yaml", "--out", "zips")
    assert result.exit_code == 0, result.output
    assert "inert" in result.output and "1,04" in result.output
    assert len(list((workdir / "zips").glob("*.zip"))) == 2


def test_demo_matrix_compares_inert_with_imported() -> None:
    from bench.matrix import load_matrix

    cells = load_matrix(Path(__file__).resolve().parents[1] / "matrix.yaml").cells()
    by_kind: dict[str, set[tuple[str, int, str, float]]] = {}
    for c in cells:
        key = (c.runtime, c.memory_mb, c.architecture, c.package_mb)
        by_kind.setdefault(c.package_kind, set()).add(key)
    # The first report a user sees answers the package-size question: same size, both kinds.
    assert by_kind.get("inert", set()) & by_kind.get("imported", set())
    assert by_kind.get("none")


def test_builds_in_other_processes_are_byte_identical(tmp_path: Path) -> None:
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from bench.fixtures import build_artifact\n"
        "from bench.matrix import Cell\n"
        "c = Cell(runtime='nodejs22.x', memory_mb=128, architecture='x86_64',"
        " package_mb=0.3, package_kind='imported')\n"
        "print(build_artifact(c, Path(sys.argv[1])).sha256)\n"
    )
    shas = set()
    for seed in ("1", "2"):  # set and dict orders must not leak into the bytes
        done = subprocess.run(
            [sys.executable, "-c", script, str(tmp_path / seed)],
            capture_output=True, text=True, check=True, env={"PYTHONHASHSEED": seed, "PATH": ""},
        )  # fmt: skip
        shas.add(done.stdout.strip())
    assert len(shas) == 1 and len(shas.pop()) == 64


def test_runtime_versions_of_a_family_get_the_same_payload(cache: Path) -> None:
    def payload(runtime: str) -> dict[str, bytes]:
        artifact = build_artifact(cell(runtime, kind="imported", mb=0.2), cache)
        with zipfile.ZipFile(artifact.zip_path) as archive:
            return {n: archive.read(n) for n in archive.namelist() if n.startswith("bench_payload")}

    first = payload("python3.12")
    assert first and first == payload("python3.13")


def test_installed_wheel_finds_its_bundled_fixtures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    import bench

    # A wheel has no fixtures/ beside the package, only the force-included bench/_fixtures.
    package = tmp_path / "site-packages" / "bench"
    shutil.copytree(fixtures_root(), package / "_fixtures")
    monkeypatch.setattr(bench, "__file__", str(package / "__init__.py"))
    assert fixtures_root() == package / "_fixtures"
    artifact = build_artifact(cell(kind="none"), tmp_path / "cache")
    with zipfile.ZipFile(artifact.zip_path) as archive:
        assert archive.read("handler.py") == (package / "_fixtures/python/handler.py").read_bytes()
    shutil.rmtree(package / "_fixtures")
    with pytest.raises(InputError, match="fixture sources not found"):
        fixtures_root()


def test_requirements_built_for_the_local_target_never_share_the_aws_zip() -> None:
    local = build_platform(LocalTarget())
    assert build_platform(AwsTarget(kind="aws")) is None
    req = {"kind": "requirements", "requirements": ("six==1.16.0",)}
    assert cache_key(cell(**req), local) != cache_key(cell(**req))
    assert cache_key(cell(**req), local) == cache_key(cell(memory_mb=1024, **req), local)
    # Packages without dependencies do not depend on where they run.
    assert cache_key(cell(kind="inert", mb=1), local) == cache_key(cell(kind="inert", mb=1))
