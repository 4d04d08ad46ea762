"""A hostile handler: tries, on request, everything a sandbox must not be able to do, and
reports what it saw. Every probe also reports a positive control (its own process, its
own Runtime API port, the bytes it could write) so a probe that silently did nothing
cannot pass for isolation."""

import errno
import os
import socket
import subprocess
import sys
import threading
import time


def _read(path, limit=1 << 20):
    try:
        with open(path, "rb") as fh:
            return fh.read(limit)
    except OSError as exc:
        return exc.errno


def _proc_scan(needles):
    """Every process visible in /proc, and which of `needles` its environ, cmdline or
    (when readable) memory maps contain."""
    pids, hits = [], []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        pids.append(int(name))
        for part in ("environ", "cmdline"):
            data = _read(f"/proc/{name}/{part}")
            if isinstance(data, bytes):
                hits += [n for n in needles if n.encode() in data]
    return sorted(pids), sorted(set(hits))


def _open_ports(ports):
    found = []
    for port in ports:
        with socket.socket() as sock:
            sock.settimeout(0.2)
            # A scan over the ephemeral range can connect a socket to itself (TCP's
            # simultaneous open); that is not a listener.
            connected = sock.connect_ex(("127.0.0.1", port)) == 0
            if connected and sock.getsockname() != sock.getpeername():
                found.append(port)
    return found


def _fill_tmp(chunk_mb=16):
    block = b"\0" * (chunk_mb << 20)
    written = 0
    try:
        with open("/tmp/fill", "wb") as fh:
            while written < (2 << 30):
                written += fh.write(block)
                fh.flush()
    except OSError as exc:
        return written, exc.errno
    finally:
        if os.path.exists("/tmp/fill"):
            os.unlink("/tmp/fill")
    return written, 0


def _count_threads(limit=4000):
    threading.stack_size(64 * 1024)
    stop = threading.Event()
    started = []
    error = ""
    try:
        for _ in range(limit):
            t = threading.Thread(target=stop.wait, daemon=True)
            t.start()
            started.append(t)
    except RuntimeError as exc:
        error = str(exc)
    stop.set()
    for t in started:
        t.join()
    return len(started), error


def _count_processes(limit=4000):
    children, err = [], 0
    for _ in range(limit):
        try:
            pid = os.fork()
        except OSError as exc:
            err = exc.errno
            break
        if pid == 0:
            time.sleep(30)
            os._exit(0)
        children.append(pid)
    for pid in children:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
    return len(children), err


def _count_files(limit=4000):
    fds, err = [], 0
    try:
        for _ in range(limit):
            fds.append(os.open("/dev/null", os.O_RDONLY))
    except OSError as exc:
        err = exc.errno
    for fd in fds:
        os.close(fd)
    return len(fds), err


def _escape(marker):
    """A daemon in its own session, ignoring SIGTERM, that tries to leave the cgroup."""
    script = (
        "import os, signal, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "for root in ('/sys/fs/cgroup', '/sys/fs/cgroup/pids', '/sys/fs/cgroup/memory'):\n"
        "    try:\n"
        "        open(root + '/cgroup.procs', 'w').write(str(os.getpid()))\n"
        "    except OSError:\n"
        "        pass\n"
        f"os.execv('/bin/sleep', ['/bin/sleep', '{marker}'])\n"
    )
    subprocess.Popen(
        [sys.executable, "-c", script],
        start_new_session=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        _, hits = _proc_scan([marker])
        if hits:
            return True
        time.sleep(0.01)
    return False


def _capabilities():
    for line in _read("/proc/self/status").decode().splitlines():
        if line.startswith("CapEff:"):
            return int(line.split()[1], 16)
    return -1


def handler(event, context):
    action = event["action"]
    if action == "identity":
        code_write = 0
        try:
            with open(os.path.join(os.environ["LAMBDA_TASK_ROOT"], "planted.py"), "w") as fh:
                fh.write("x = 1\n")
        except OSError as exc:
            code_write = exc.errno
        return {
            "uid": os.getuid(),
            "gid": os.getgid(),
            "caps": _capabilities(),
            "task_root": os.environ["LAMBDA_TASK_ROOT"],
            "code_write_errno": code_write,
            "code_listing": sorted(os.listdir(os.environ["LAMBDA_TASK_ROOT"])),
        }
    if action == "scan":
        pids, hits = _proc_scan(event["needles"])
        paths = {p: _read(p, 64) for p in event.get("paths", [])}
        return {
            "pid": os.getpid(),
            "pids": pids,
            "hits": hits,
            "paths": {p: (v if isinstance(v, int) else "readable") for p, v in paths.items()},
            "open_ports": _open_ports(event["ports"]),
        }
    if action == "tmp_write":
        with open("/tmp/" + event["name"], "w") as fh:
            fh.write(event["content"])
        return {"tmp": sorted(os.listdir("/tmp"))}
    if action == "tmp_list":
        return {"tmp": sorted(os.listdir("/tmp"))}
    if action == "tmp_fill":
        written, err = _fill_tmp()
        return {"written": written, "errno": err, "enospc": errno.ENOSPC}
    if action == "limits":
        threads, thread_error = _count_threads()
        processes, process_errno = _count_processes()
        files, files_errno = _count_files()
        return {
            "threads": threads,
            "thread_error": thread_error,
            "processes": processes,
            "process_errno": process_errno,
            "files": files,
            "files_errno": files_errno,
        }
    if action == "escape":
        return {"seen": _escape(event["marker"])}
    raise ValueError(f"unknown action {action!r}")
