"""First code run inside an isolated sandbox, then replaced by the runtime (exec).

Run as `python -I -S sandbox_launch.py FD UID GID KEEP_PWD PORT -- RUNTIME ARGV...` by
bubblewrap, inside the sandbox's own network, PID and mount namespaces. It imports nothing
of coldbench (the package is not visible in there) and does, in order:

1. listens on 127.0.0.1:9001 in the sandbox's own network namespace (Lambda's address for
   the Runtime API) and hands that listening socket to the emulator over the inherited
   Unix socket FD: the emulator then serves the Runtime API on it directly, so only this
   sandbox can reach it and no relay sits between the runtime and the server;
   When PORT is not 0 (a function whose role may call the endpoint), it also listens on
   127.0.0.1:PORT and hands that socket over too: the emulator serves its endpoint there,
   so the function reaches it at the address it was given while its network namespace
   stays its own (nothing else of the host is reachable);
2. sets Lambda's limits: 1,024 open descriptors and 1,024 processes/threads;
3. when started as root (bubblewrap's privileged mode), drops to the sandbox's own
   unprivileged uid/gid, which also makes the process limit count this sandbox alone;
4. stamps the monotonic clock (shared with the emulator) and execs the runtime, so Init
   Duration starts where the runtime starts, as it does when the sandbox is not isolated.
"""

import os
import resource
import socket
import struct
import sys
import time

RUNTIME_API = ("127.0.0.1", 9001)
LIMIT = 1024  # Lambda: 1,024 file descriptors and 1,024 processes/threads


def _listen(address: tuple[str, int]) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(address)
    sock.listen(128)
    return sock


def main(argv: list[str]) -> None:
    fd, uid, gid, keep_pwd = int(argv[1]), int(argv[2]), int(argv[3]), argv[4] == "1"
    endpoint_port = int(argv[5])
    command = argv[argv.index("--") + 1 :]
    listener = _listen(RUNTIME_API)
    listeners = [listener]
    if endpoint_port:
        listeners.append(_listen(("127.0.0.1", endpoint_port)))
    resource.setrlimit(resource.RLIMIT_NOFILE, (LIMIT, LIMIT))
    resource.setrlimit(resource.RLIMIT_NPROC, (LIMIT, LIMIT))
    if os.getuid() == 0 and uid != 0:
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)  # from root to a plain uid: every capability is gone too
    channel = socket.socket(fileno=fd)
    stamp = time.perf_counter_ns()
    socket.send_fds(channel, [struct.pack("q", stamp)], [s.fileno() for s in listeners])
    channel.close()
    for sock in listeners:
        sock.close()
    env = dict(os.environ)
    if not keep_pwd:
        env.pop("PWD", None)
    os.execve(command[0], command, env)


if __name__ == "__main__":
    main(sys.argv)
