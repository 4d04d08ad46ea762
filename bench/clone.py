"""`from: arn:aws:lambda:...:function:NAME[:QUALIFIER]`: a deployed function, cloned.

The original is only read: GetFunction gives its configuration and Code.Location, a
presigned URL to its deployment package (on the local target too), which is downloaded
and checked against CodeSha256. The bench copy gets the original's code, runtime, handler,
layers, environment (the entry's `environment` on top) and timeout (unless the entry sets
one); its VPC configuration only with `vpc: true`, which needs more permissions. Memory
and architecture are the matrix's axes; the original's are recorded in the manifest's
`clones`.
The copy is created, measured and deleted like any cell's function.
"""

from __future__ import annotations

import base64
import hashlib
import os
import urllib.request
from pathlib import Path
from typing import Any

from bench.errors import InputError
from bench.matrix import FunctionEntry, LocalTarget, Matrix

DOWNLOAD_TIMEOUT_S = 120.0


def _split(arn: str) -> tuple[str, str, str | None]:
    """(region, name, qualifier) of a function ARN (the matrix checked its shape)."""
    parts = arn.split(":")
    return parts[3], parts[6], parts[7] if len(parts) > 7 else None


def _download(url: str, dest: Path, code_sha256: str, where: str) -> None:
    """Fetch the package behind Code.Location and check it is the one GetFunction named."""
    if not url.startswith(("https://", "http://127.0.0.1", "http://localhost")):
        raise InputError(f"{where}: Code.Location is not an https URL; refusing to fetch it")
    try:
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response:
            data = response.read()
    except OSError as exc:
        raise InputError(f"{where}: cannot download its code package: {exc}") from None
    digest = base64.b64encode(hashlib.sha256(data).digest()).decode()
    if code_sha256 and digest != code_sha256:
        raise InputError(
            f"{where}: the downloaded package's SHA-256 {digest} is not CodeSha256 "
            f"{code_sha256}; it changed while it was read, run again"
        )
    partial = dest.with_suffix(f".part{os.getpid()}")
    partial.write_bytes(data)
    os.replace(partial, dest)


def read_original(client: Any, entry: FunctionEntry, cache_dir: Path) -> FunctionEntry:
    """`entry` resolved from the deployed function it names: GetFunction (a read) and the
    code package; nothing of the original is changed."""
    assert entry.from_ is not None
    where = f"functions {entry.name}: from {entry.from_}"
    _region, name, qualifier = _split(entry.from_)
    from botocore.exceptions import ClientError

    try:
        kwargs = {"FunctionName": name, **({"Qualifier": qualifier} if qualifier else {})}
        found = client.get_function(**kwargs)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise InputError(f"{where}: {error.get('Code')}: {error.get('Message')}") from None
    config = found["Configuration"]
    if config.get("PackageType") == "Image":
        raise InputError(f"{where}: a container image function; only .zip packages are cloned")
    code = found.get("Code") or {}
    if not code.get("Location"):
        raise InputError(f"{where}: GetFunction gave no Code.Location to read its code from")
    cache_dir.mkdir(parents=True, exist_ok=True)
    sha = str(config.get("CodeSha256") or "")
    key = hashlib.sha256(f"{entry.from_}\0{sha}".encode()).hexdigest()[:24]
    package = cache_dir / f"clone-{key}.zip"
    if not package.is_file():
        _download(code["Location"], package, sha, where)
    layers = [layer["Arn"] for layer in config.get("Layers") or []]
    vpc = config.get("VpcConfig") or {}
    vpc_config = None
    if entry.vpc and vpc.get("SubnetIds"):
        vpc_config = {"SubnetIds": list(vpc["SubnetIds"]),
                      "SecurityGroupIds": list(vpc.get("SecurityGroupIds") or [])}  # fmt: skip
    variables = (config.get("Environment") or {}).get("Variables") or {}
    cloned = {
        "entry": entry.model_dump(mode="json"),  # as written, for the manifest's matrix
        "arn": config.get("FunctionArn"),
        "version": config.get("Version"),
        "code_sha256": sha,
        "runtime": config.get("Runtime"),
        "handler": config.get("Handler"),
        "memory_mb": config.get("MemorySize"),
        "timeout_s": config.get("Timeout"),
        "architectures": config.get("Architectures") or ["x86_64"],
        "layers": layers,
        "vpc": bool(vpc.get("SubnetIds")),
    }
    if not config.get("Runtime") or not config.get("Handler"):
        raise InputError(f"{where}: no runtime or handler in its configuration")
    # model_copy skips validation: these are the original's facts, not user input.
    return entry.model_copy(update={
        "code": str(package),
        "runtime": config["Runtime"],
        "handler": config["Handler"],
        "environment": {**variables, **entry.environment},
        "timeout_s": entry.timeout_s or config.get("Timeout"),
        "layers": layers,
        "vpc_config": vpc_config,
        "cloned": cloned,
    })  # fmt: skip


def resolve_clones(matrix: Matrix, targets: Any, cache_dir: Path | None = None) -> Matrix:
    """The matrix with every `from:` entry resolved (read_original), through the target of
    the original's region (or the first); unchanged when it has none."""
    if not any(f.from_ for f in matrix.functions):
        return matrix
    from bench.fixtures import default_cache_dir

    cache = cache_dir or default_cache_dir()
    by_region = targets.by_region()
    entries = []
    for entry in matrix.functions:
        if entry.from_ is None:
            entries.append(entry)
            continue
        region = _split(entry.from_)[0]
        target = by_region.get(region, targets.first)
        resolved = read_original(target.control_client(), entry, cache)
        if resolved.layers and isinstance(matrix.target, LocalTarget):
            raise InputError(
                f"functions {entry.name}: from {entry.from_} uses layers, which are AWS only; "
                "the local target cannot run them"
            )
        entries.append(resolved)
    return matrix.model_copy(update={"functions": entries})

