"""Deployment packages: checksum, size limits and safe extraction of a zip.

The unzipped-size limit is enforced while extracting, on the bytes actually written, so a
zip whose headers lie about sizes (a zip bomb) is stopped at the limit, not after it.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import shutil
import stat
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from bench.emulator.errors import invalid_param, too_large
from bench.lambda_limits import UNZIPPED_MAX_BYTES, ZIPPED_MAX_BYTES

MAX_ZIPPED = ZIPPED_MAX_BYTES
MAX_UNZIPPED = UNZIPPED_MAX_BYTES
BAD_ZIP = "Could not unzip uploaded file. Please check your file, then try to upload again."
CHUNK = 1 << 20


@dataclass(frozen=True)
class CodePackage:
    sha256_b64: str  # CodeSha256 as Lambda reports it
    sha256_hex: str
    size: int  # zipped bytes (CodeSize)
    unzipped_size: int
    directory: Path
    zip_path: Path


def _safe_member_path(name: str) -> PurePosixPath:
    """Reject absolute names, drive letters and any `..` that could climb out of the root."""
    normalised = name.replace("\\", "/")
    path = PurePosixPath(normalised)
    if path.is_absolute() or (path.parts and ":" in path.parts[0]) or ".." in path.parts:
        raise invalid_param(
            f"Zip entry {name!r} would be written outside the function's code directory; "
            "rebuild the package with relative paths only."
        )
    return path


def _extract(archive: zipfile.ZipFile, root: Path, limit: int) -> int:
    written = 0
    for info in archive.infolist():
        rel = _safe_member_path(info.filename)
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise invalid_param(
                f"Zip entry {info.filename!r} is a symbolic link; the emulator does not "
                "extract links: replace it with the file it points to."
            )
        target = root.joinpath(*rel.parts) if rel.parts else root
        if info.is_dir():
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        with archive.open(info) as src, open(target, "wb") as dst:
            while chunk := src.read(CHUNK):
                written += len(chunk)
                if written >= limit:
                    raise invalid_param(f"Unzipped size must be smaller than {limit} bytes")
                dst.write(chunk)
        # Sane permissions whatever the zip says: executable stays executable, no setuid.
        target.chmod(0o755 if mode & 0o111 else 0o644)
    return written


def store_package(
    zip_bytes: bytes, functions_dir: Path, name: str, *, max_unzipped: int = MAX_UNZIPPED
) -> CodePackage:
    """Check and unzip one package into functions_dir/<name>/<sha256 hex>/ (reused if there)."""
    if len(zip_bytes) > MAX_ZIPPED:
        raise too_large(f"Zipped size must be smaller than {MAX_ZIPPED} bytes")
    digest = hashlib.sha256(zip_bytes).digest()
    sha_hex = digest.hex()
    base = functions_dir / name
    final = base / sha_hex
    zip_path = base / f"{sha_hex}.zip"
    try:
        archive = zipfile.ZipFile(io.BytesIO(zip_bytes))
    except (zipfile.BadZipFile, ValueError) as exc:
        raise invalid_param(BAD_ZIP) from exc
    base.mkdir(parents=True, exist_ok=True)
    if final.is_dir():
        unzipped = sum(f.stat().st_size for f in final.rglob("*") if f.is_file())
    else:
        staging = Path(tempfile.mkdtemp(prefix=".extract-", dir=base))
        try:
            unzipped = _extract(archive, staging, max_unzipped)
        except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError) as exc:
            shutil.rmtree(staging, ignore_errors=True)
            raise invalid_param(BAD_ZIP) from exc
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        staging.chmod(0o755)
        try:
            os.rename(staging, final)
        except OSError:  # another request stored the same package first
            shutil.rmtree(staging, ignore_errors=True)
        zip_path.write_bytes(zip_bytes)
    return CodePackage(
        sha256_b64=base64.b64encode(digest).decode(),
        sha256_hex=sha_hex,
        size=len(zip_bytes),
        unzipped_size=unzipped,
        directory=final,
        zip_path=zip_path,
    )
