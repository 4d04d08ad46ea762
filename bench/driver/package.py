"""The driver function's deployment package: our own modules, zipped as they are.

No copy of any code: the files of this very package (bench.burst and what it imports, and
the driver's handler) go into the zip under their own paths, with fixed timestamps so the
same sources always give the same bytes (and the same sha256).
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

import bench

# Everything the handler imports from bench, transitively (a test imports the handler
# from an unpacked package to keep this list whole).
MODULES = (
    "bench/__init__.py",
    "bench/aws_errors.py",
    "bench/logs.py",
    "bench/burst.py",
    "bench/driver/__init__.py",
    "bench/driver/wire.py",
    "bench/driver/handler.py",
)
HANDLER = "bench.driver.handler.handler"
RUNTIME = "python3.12"  # its managed runtime ships boto3
_EPOCH = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class DriverPackage:
    zip_path: Path
    sha256: str
    zipped_bytes: int
    handler: str = HANDLER
    runtime: str = RUNTIME


def build_driver_package(out_dir: Path) -> DriverPackage:
    root = Path(bench.__file__).resolve().parent.parent
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in MODULES:
            info = zipfile.ZipInfo(name, date_time=_EPOCH)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, (root / name).read_bytes())
    data = buf.getvalue()
    digest = hashlib.sha256(data).hexdigest()
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"driver-{digest[:16]}.zip"
    path.write_bytes(data)
    return DriverPackage(path, digest, len(data))
