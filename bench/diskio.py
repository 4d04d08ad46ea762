"""What the harness says when the disk says no: one line naming the path and what to do.

Every directory the harness writes to (results, reports, the local target's state) is
checked before anything is deployed, and an OSError met later is put into the same words.
"""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

from bench.errors import InputError

# Enough to see a disk that is full to the last block, small enough to cost nothing.
PROBE_BYTES = 64 * 1024


def describe(exc: OSError, path: Path | str | None = None, *, flag: str | None = None) -> str:
    """`PATH: what happened; what to do`, for any OSError met on a path we write to."""
    where = exc.filename if exc.filename is not None else path
    if exc.errno == errno.ENOENT and where is not None:
        where = _vanished(Path(where))
    give = f"give {flag} " if flag else "use "
    code = exc.errno
    if code == errno.EROFS:
        what = f"read-only file system; {give}a writable directory"
    elif code in (errno.EACCES, errno.EPERM):
        what = f"permission denied; {give}a directory you may write to, or fix its permissions"
    elif code in (errno.ENOSPC, errno.EDQUOT):
        what = f"no space left on the device; free some space or {give}a directory elsewhere"
    elif code in (errno.ENOTDIR, errno.EEXIST):
        what = f"a file where a directory is expected; {give}a directory"
    elif code == errno.ENOENT:
        what = "no longer exists (removed while in use); leave it in place while bench works"
    else:
        what = f"{exc.strerror or type(exc).__name__}; check the path and the disk"
    return f"{where}: {what}"


def _vanished(path: Path) -> Path:
    """The outermost missing directory on the way to `path`: what was removed."""
    while not path.parent.exists() and path.parent != path:
        path = path.parent
    return path


def check_writable_dir(path: Path, *, flag: str) -> None:
    """Create `path` if needed and write a probe file into it; raise InputError in the
    words of `describe` if anything refuses (a file in the way, read-only, full, denied)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InputError(f"{flag} {path}: a file, not a directory; give {flag} a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=path, prefix=".bench-probe-")
        try:
            left = memoryview(b"\0" * PROBE_BYTES)
            while left:  # a nearly full disk takes part of a write before it refuses
                left = left[os.write(fd, left) :]
            os.fsync(fd)
        finally:
            os.close(fd)
            Path(probe).unlink(missing_ok=True)
    except OSError as exc:
        raise InputError(f"{flag} {describe(exc, path, flag=flag)}") from None
