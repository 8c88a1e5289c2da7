"""The sandbox's zygote: a fresh interpreter that never loads an artifact, and forks one isolated child per session.

Started by the parent (registry/sandbox/runner.py) with `python -I`, an empty environment and no inherited file
but its control socket. It leaves the host's network first, imports the libraries every child needs once (so a
child starts in milliseconds, not seconds), then forks on request: a supervisor that enters a new PID namespace
and forks the child, which sets its limits, becomes an unprivileged user, restricts its file system with
Landlock and serves jobs (registry/sandbox/child.py). When the child ends, the namespace ends with it, so nothing
it started survives. Django-free.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import signal
import socket
import sys
import tempfile
from pathlib import Path
from typing import Any

from registry.sandbox import isolation

# Imported once here so every child starts with them; the network namespace is entered before (a user namespace
# can only be entered by a process with one thread, and numpy starts threads).
PRELOAD = ("numpy", "pandas", "sklearn", "skops.io", "registry.sandbox.child", "registry.sandbox.wire")
CHANNEL_FD = 3


def _send(ctl: socket.socket, message: dict[str, Any]) -> None:
    ctl.send(json.dumps(message).encode())


def _read_line(fd: int) -> dict[str, Any]:
    buf = bytearray()
    while not buf.endswith(b"\n"):
        chunk = os.read(fd, 1)
        if not chunk:
            return {}
        buf += chunk
    return dict(json.loads(buf))


def _child(spec: dict[str, Any], channel: int) -> None:
    """In the forked child (the first process of its PID namespace, when one was made): isolate, then serve."""
    if channel != CHANNEL_FD:
        os.dup2(channel, CHANNEL_FD)
    os.closerange(CHANNEL_FD + 1, 1 << 16)
    limits = spec["limits"]
    isolation.set_limits(memory_bytes=limits["memory_bytes"], cpu_seconds=limits["cpu_seconds"],
                         open_files=limits["open_files"], file_bytes=limits["file_bytes"])
    workdir = spec["workdir"]
    os.chdir(workdir)
    if spec.get("uid") is not None:
        # Root may see code the unprivileged user cannot (an interpreter under /root): make it reachable first.
        isolation.reveal(sys.path, uid=spec["uid"], stash=Path(spec["inputs"]).parent)
        isolation.drop_user(spec["uid"], spec["gid"])
    isolation.no_new_privileges(die_with_parent=True)
    if spec.get("landlock"):
        read, list_only = isolation.readable_code(Path(spec["project_root"]), sys.path)
        isolation.landlock(read=[*read, spec["inputs"]], write=[workdir], list_only=list_only)
    isolation.no_sockets()
    log = os.open("stderr.log", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    os.environ.clear()
    os.environ.update({"HOME": workdir, "TMPDIR": workdir, "LANG": "C.UTF-8", "MPLCONFIGDIR": workdir})
    tempfile.tempdir = workdir
    from registry.sandbox import child  # preloaded by the zygote: binding the name costs nothing here

    child.serve(socket.socket(fileno=CHANNEL_FD), list(spec["modules"]))


def _supervise(spec: dict[str, Any], channel: int, report: int) -> None:
    """In the supervisor: make the PID namespace, fork the child into it, say its pid, then its end."""
    isolation.no_new_privileges(die_with_parent=True)
    pidns = isolation.own_pids()
    pid = os.fork()
    if pid == 0:
        os.close(report)
        try:
            _child(spec, channel)
        except BaseException as exc:
            os.write(2, f"sandbox child failed to start: {type(exc).__name__}: {exc}\n".encode())
            os._exit(70)
        os._exit(0)
    os.close(channel)
    os.write(report, json.dumps({"pid": pid, "pidns": pidns}).encode() + b"\n")
    _, status, usage = os.wait4(pid, 0)
    os.write(report, json.dumps({"status": status, "cpu_seconds": usage.ru_utime + usage.ru_stime,
                                 "maxrss_kb": usage.ru_maxrss}).encode() + b"\n")


class Zygote:
    def __init__(self, ctl: socket.socket, config: dict[str, Any]) -> None:
        self.ctl = ctl
        self.config = config
        self.sessions: dict[int, tuple[int, int]] = {}  # supervisor pid -> (child pid, report pipe)

    def spawn(self, spec: dict[str, Any], fds: list[int]) -> dict[str, Any]:
        if len(fds) != 1:
            for fd in fds:
                os.close(fd)
            return {"error": "a spawn needs exactly one channel"}
        for name in spec.get("modules", []):
            importlib.import_module(name)  # once in the zygote, so the next child has it already
        spec = {**spec, "project_root": self.config["project_root"]}
        read_end, write_end = os.pipe()
        sid = os.fork()
        if sid == 0:
            try:
                self.ctl.close()
                os.close(read_end)
                _supervise(spec, fds[0], write_end)
            finally:
                os._exit(0)
        os.close(write_end)
        os.close(fds[0])
        started = _read_line(read_end)
        if not started:
            os.close(read_end)
            os.waitpid(sid, 0)
            return {"error": "the sandbox could not fork a child"}
        self.sessions[sid] = (int(started["pid"]), read_end)
        return {"sid": sid, "pid": started["pid"], "pidns": started["pidns"]}

    def wait(self, sid: int) -> dict[str, Any]:
        if sid not in self.sessions:
            return {"error": f"no session {sid}"}
        _, read_end = self.sessions.pop(sid)
        ended = _read_line(read_end)
        os.close(read_end)
        os.waitpid(sid, 0)
        return ended or {"status": None}

    def serve(self) -> None:
        try:
            while True:
                data, fds, _, _ = socket.recv_fds(self.ctl, 1 << 16, 4)
                if not data:
                    return
                request = json.loads(data)
                if request.get("op") == "spawn":
                    _send(self.ctl, self.spawn(request, fds))
                elif request.get("op") == "wait":
                    _send(self.ctl, self.wait(int(request["sid"])))
                else:
                    _send(self.ctl, {"error": f"unknown operation {request.get('op')!r}"})
        finally:
            for pid, _ in self.sessions.values():
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)


def main(raw: str) -> None:
    config = json.loads(raw)
    ctl = socket.socket(fileno=int(config["control_fd"]))
    network = isolation.own_network(os.geteuid() == 0)
    for name in PRELOAD:
        importlib.import_module(name)
    _send(ctl, {"network": network, "landlock_abi": isolation.landlock_abi(), "pid": os.getpid(),
                "sockets": isolation.socket_filter(),
                "uid": os.geteuid()})
    Zygote(ctl, config).serve()
