"""Deployment packages: checksums, limits enforced while extracting, no escapes."""

from __future__ import annotations

import base64
import hashlib
import io
import stat
import struct
import zipfile
from pathlib import Path

import pytest

from bench.emulator.code import MAX_UNZIPPED, store_package
from bench.emulator.errors import AwsError


def _zip(entries: list[tuple[zipfile.ZipInfo | str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        for info, data in entries:
            archive.writestr(info, data)
    return buf.getvalue()


def _info(name: str, mode: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.external_attr = mode << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


def test_checksum_size_permissions_and_reuse(tmp_path: Path) -> None:
    package = _zip([
        (_info("bootstrap", stat.S_IFREG | 0o4777), b"#!/bin/sh\n"),
        (_info("lib/data.txt", stat.S_IFREG | 0o600), b"data"),
    ])
    stored = store_package(package, tmp_path, "fn")
    assert stored.sha256_b64 == base64.b64encode(hashlib.sha256(package).digest()).decode()
    assert stored.size == len(package)
    assert stored.unzipped_size == len(b"#!/bin/sh\n") + 4
    assert stored.directory == tmp_path / "fn" / hashlib.sha256(package).hexdigest()
    assert stat.S_IMODE((stored.directory / "bootstrap").stat().st_mode) == 0o755  # no setuid
    assert stat.S_IMODE((stored.directory / "lib" / "data.txt").stat().st_mode) == 0o644
    again = store_package(package, tmp_path, "fn")
    assert again.directory == stored.directory and again.unzipped_size == stored.unzipped_size


def test_unzipped_limit_stops_extraction_at_the_limit(tmp_path: Path) -> None:
    package = _zip([("a.bin", b"\0" * 3000), ("b.bin", b"\0" * 3000)])
    with pytest.raises(AwsError) as err:
        store_package(package, tmp_path, "big", max_unzipped=4096)
    assert err.value.message == "Unzipped size must be smaller than 4096 bytes"
    assert not any((tmp_path / "big").glob("[0-9a-f]*"))  # nothing half-extracted is kept


def _lie_about_size(package: bytes, claimed: int) -> bytes:
    """Rewrite every uncompressed-size field to `claimed`, as a zip bomb would."""
    data = bytearray(package)
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        start = 0
        while (at := data.find(signature, start)) != -1:
            struct.pack_into("<I", data, at + offset, claimed)
            start = at + 4
    return bytes(data)


def test_lying_headers_do_not_get_past_the_limit(tmp_path: Path) -> None:
    honest = _zip([("bomb.bin", b"\0" * 100_000)])
    lying = _lie_about_size(honest, 10)
    with pytest.raises(AwsError) as err:
        store_package(lying, tmp_path, "bomb", max_unzipped=50_000)
    assert err.value.code == "InvalidParameterValueException"
    assert not list(tmp_path.rglob("bomb.bin"))


@pytest.mark.parametrize("name", ["../up.py", "/etc/evil", "a/../../up.py", "C:/win.py",
                                  "..\\back.py"])
def test_entries_escaping_the_root_are_refused(tmp_path: Path, name: str) -> None:
    root = tmp_path / "functions"
    with pytest.raises(AwsError) as err:
        store_package(_zip([(name, b"x")]), root, "esc")
    assert err.value.code == "InvalidParameterValueException"
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]


def test_symlinks_are_refused(tmp_path: Path) -> None:
    package = _zip([(_info("link", stat.S_IFLNK | 0o777), b"/etc/passwd")])
    with pytest.raises(AwsError) as err:
        store_package(package, tmp_path, "sym")
    assert "symbolic link" in err.value.message


def test_bad_zip_and_zipped_limit(tmp_path: Path) -> None:
    with pytest.raises(AwsError) as bad:
        store_package(b"PK\x03\x04 definitely not a zip", tmp_path, "bad")
    assert bad.value.message.startswith("Could not unzip uploaded file.")
    with pytest.raises(AwsError) as huge:
        store_package(b"\0" * (52_428_800 + 1), tmp_path, "huge")
    assert (huge.value.status, huge.value.code) == (413, "RequestEntityTooLargeException")


@pytest.mark.e2e
def test_the_real_unzipped_limit_over_http(api: object) -> None:
    """262,144,000 bytes, as AWS: a 256 KB zip of zeros that inflates one byte past it."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive, \
            archive.open("zeros.bin", "w", force_zip64=True) as out:
        chunk = b"\0" * (1 << 20)
        remaining = MAX_UNZIPPED + 1
        while remaining:
            out.write(chunk[: min(remaining, len(chunk))])
            remaining -= min(remaining, len(chunk))
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError) as err:
        api.create("too-big", wait=False, Code={"ZipFile": buf.getvalue()})  # type: ignore[attr-defined]
    assert err.value.response["Error"]["Message"] == (
        "Unzipped size must be smaller than 262144000 bytes"
    )
