"""SnapStart on the local target: what is served and what is not.

Served: SnapStart.ApplyOn on CreateFunction and UpdateFunctionConfiguration (for the
runtimes AWS offers it on), and a version published with it stays Pending until its
"snapshot" is ready, then Active with OptimizationStatus On, so the AWS path (publish,
wait for On, invoke the version) runs against the local target as it does on AWS.

Not served: restores. A restore needs a checkpoint of a whole initialised process tree:
CRIU where the kernel lets it (`criu check`), else a fork of a pre-initialised process.
Neither is done here, so a SnapStart version's cold starts on the local target are
on-demand inits, and the local target says so (its facts, the manifest, the report);
it never shows a Restore Duration it did not measure.
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
from typing import Any

# Java 11 and later, Python 3.12 and later, .NET 8 and later (Lambda developer guide).
_SUPPORTED = re.compile(r"^(java(1[1-9]|[2-9]\d)|python3\.(1[2-9]|[2-9]\d)|dotnet([89]|\d\d))$")
APPLY_ON = ("PublishedVersions", "None")


def supported(runtime: str) -> bool:
    return bool(_SUPPORTED.match(runtime))


@functools.cache
def support() -> dict[str, Any]:
    """{"emulated": False, "reason": one line}: why restores are not emulated here."""
    criu = shutil.which("criu")
    if criu is None:
        checkpoint = "CRIU is not installed (Debian: apt-get install criu)"
    else:
        try:
            done = subprocess.run(
                [criu, "check"], capture_output=True, text=True, timeout=30, check=False
            )
            lines = [x.strip() for x in (done.stderr + done.stdout).splitlines() if x.strip()]
            if done.returncode == 0:
                checkpoint = "criu check passes, but the local target does not restore with it"
            else:
                checkpoint = f"criu check fails here ({(lines or ['no output'])[-1][:160]})"
        except (OSError, subprocess.TimeoutExpired) as exc:
            checkpoint = f"criu check could not run ({exc})"
    reason = (
        f"{checkpoint}; restoring a pre-initialised process by fork is not implemented: "
        "a SnapStart version's cold starts are on-demand inits (Init Duration, no Restore "
        "Duration)"
    )
    return {"emulated": False, "reason": reason}
