"""The parent's side of the sandbox: one zygote per process, one isolated child per session, every answer checked.

A web or worker process never deserialises an artifact. It copies the file into a scratch directory, asks its
zygote (registry/sandbox/zygote.py) for a child, and talks to the child over a socket in the format of
registry/sandbox/wire.py. A crash, a limit, a timeout or an answer out of format ends the session with a
SandboxError saying which; the caller turns it into its own error (a 400 at registration, a failed report).
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from registry.sandbox import skops_types, wire

PROJECT_ROOT = Path(__file__).resolve().parents[2]
_BOOT = "import sys; sys.path.insert(0, sys.argv[1]); from registry.sandbox.zygote import main; main(sys.argv[2])"
_SIGNALS = {signal.SIGKILL: "killed", signal.SIGSEGV: "crashed (segmentation fault)",
            signal.SIGBUS: "crashed (bus error)", signal.SIGABRT: "aborted", signal.SIGXCPU: "out of CPU time",
            signal.SIGXFSZ: "over its file size limit", signal.SIGILL: "crashed (illegal instruction)"}


class SandboxError(Exception):
    """The sandbox could not do what was asked; the message says why, for the person who asked."""


@dataclass(frozen=True)
class Limits:
    memory_bytes: int
    cpu_seconds: int
    open_files: int
    file_bytes: int
    timeout_seconds: float
    result_bytes: int

    @classmethod
    def from_settings(cls, *, timeout_seconds: float | None = None) -> Limits:
        return cls(memory_bytes=settings.REGISTRY_SANDBOX_MEMORY_MB * 1024 * 1024,
                   cpu_seconds=settings.REGISTRY_SANDBOX_CPU_SECONDS,
                   open_files=settings.REGISTRY_SANDBOX_MAX_OPEN_FILES,
                   file_bytes=settings.REGISTRY_SANDBOX_MAX_FILE_MB * 1024 * 1024,
                   timeout_seconds=float(timeout_seconds or settings.REGISTRY_SANDBOX_TIMEOUT_SECONDS),
                   result_bytes=settings.REGISTRY_SANDBOX_MAX_RESULT_MB * 1024 * 1024)

    def describe(self) -> str:
        return (f"memory {self.memory_bytes // (1024 * 1024)} MB, CPU {self.cpu_seconds} s, wall clock "
                f"{self.timeout_seconds:g} s per job, {self.open_files} open files, files up to "
                f"{self.file_bytes // (1024 * 1024)} MB")


def trusted_types() -> tuple[str, ...]:
    """The skops allowlist in force: the default and REGISTRY_SKOPS_EXTRA_TRUSTED_TYPES."""
    try:
        return skops_types.trusted_types(settings.REGISTRY_SKOPS_EXTRA_TRUSTED_TYPES)
    except ValueError as exc:
        raise ImproperlyConfigured(f"REGISTRY_SKOPS_EXTRA_TRUSTED_TYPES: {exc}") from exc


def _sandbox_user() -> tuple[int, int] | None:
    """The unprivileged user a child becomes when this process is root; None when it is not root."""
    if os.geteuid() != 0:
        return None
    name = settings.REGISTRY_SANDBOX_USER
    try:
        entry = pwd.getpwnam(name)
    except KeyError as exc:
        raise SandboxError(f"the sandbox user {name!r} does not exist on this machine") from exc
    if entry.pw_uid == 0:
        raise SandboxError(f"the sandbox user {name!r} is root")
    return entry.pw_uid, entry.pw_gid


class _Zygote:
    def __init__(self) -> None:
        self.owner = os.getpid()
        self.lock = threading.Lock()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.log = tempfile.TemporaryFile(prefix="modelgov-zygote-")  # noqa: SIM115 - lives with the zygote
        config = {"control_fd": theirs.fileno(), "project_root": str(PROJECT_ROOT)}
        self.process = subprocess.Popen(
            [sys.executable, "-I", "-c", _BOOT, str(PROJECT_ROOT), json.dumps(config)],
            env={"LANG": "C.UTF-8", "PATH": "/usr/bin:/bin"}, cwd="/", stdin=subprocess.DEVNULL,
            stdout=self.log, stderr=self.log, pass_fds=(theirs.fileno(),), close_fds=True, start_new_session=True)
        theirs.close()
        self.ctl = ours
        self.ctl.settimeout(120)
        try:
            self.hello = self._receive()
        except SandboxError:
            self.process.kill()
            raise

    def alive(self) -> bool:
        return self.process.poll() is None and os.getpid() == self.owner

    def _receive(self) -> dict[str, Any]:
        try:
            data = self.ctl.recv(1 << 16)
        except OSError as exc:
            data = b""
            reason = str(exc)
        else:
            reason = "it exited"
        if not data:
            self.log.seek(0)
            tail = self.log.read()[-600:].decode("utf-8", "replace")
            raise SandboxError(f"the sandbox could not start ({reason}): {tail}".strip())
        return dict(json.loads(data))

    def request(self, message: dict[str, Any], fds: list[int] | None = None) -> dict[str, Any]:
        with self.lock:
            socket.send_fds(self.ctl, [json.dumps(message).encode()], fds or [])
            reply = self._receive()
        if "error" in reply:
            raise SandboxError(str(reply["error"]))
        return reply

    def stop(self) -> None:
        self.ctl.close()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()


_zygote: _Zygote | None = None
_zygote_lock = threading.Lock()


def zygote() -> _Zygote:
    """This process's zygote, started on first use; a forked process (a Celery pool child) starts its own."""
    global _zygote
    with _zygote_lock:
        if _zygote is None or not _zygote.alive():
            if _zygote is not None and os.getpid() == _zygote.owner:
                _zygote.stop()
            _zygote = _Zygote()
        return _zygote


def isolation_notes(hello: dict[str, Any], user: tuple[int, int] | None, landlock: bool, pidns: bool) -> dict:
    network = str(hello.get("network", "unknown"))
    if user is not None:
        who = f"{settings.REGISTRY_SANDBOX_USER} (uid {user[0]}), no groups"
    else:
        who = "the server's own user (it is not root, so no other user can be taken)"
    return {
        "network": network,
        "user": who,
        "files": "Landlock: readable only where code lives, writable only in a scratch directory" if landlock
        else "no Landlock on this kernel: the child reads what its user may read",
        "sockets": str(hello.get("sockets", "unknown")),
        "processes": "own PID namespace: everything the child starts ends with it" if pidns
        else "no PID namespace: the child's own processes are not contained",
    }


@dataclass
class Session:
    """One sandboxed child holding one loaded artifact. Use as a context manager, or call close()."""

    artifact: Path
    fmt: str
    limits: Limits
    modules: tuple[str, ...] = ()
    trust_pickle: bool = False
    types: tuple[str, ...] = field(default_factory=tuple)
    info: dict[str, Any] = field(default_factory=dict)
    isolation: dict[str, str] = field(default_factory=dict)
    usage: dict[str, Any] = field(default_factory=dict)
    stderr_tail: str = ""
    _sock: socket.socket | None = None
    _pid: int = 0
    _sid: int = 0
    _scratch: Path | None = None

    def __enter__(self) -> Session:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> Session:
        """Start the child and load the artifact in it; `info` then says what the artifact is."""
        user = _sandbox_user()
        z = zygote()
        self._scratch = Path(tempfile.mkdtemp(prefix="modelgov-sandbox-"))
        inputs, work = self._scratch / "in", self._scratch / "work"
        inputs.mkdir()
        work.mkdir(mode=0o700)
        target = inputs / f"artifact.{self.fmt}"
        shutil.copyfile(self.artifact, target)
        target.chmod(0o444)
        inputs.chmod(0o555)
        self._scratch.chmod(0o711)  # the child may pass through to in/ and work/, and list neither
        if user is not None:
            os.chown(work, *user)
        landlock = int(z.hello.get("landlock_abi", 0)) >= 1
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        spec = {"op": "spawn", "workdir": str(work), "inputs": str(inputs), "modules": list(self.modules),
                "uid": user[0] if user else None, "gid": user[1] if user else None, "landlock": landlock,
                "limits": {"memory_bytes": self.limits.memory_bytes, "cpu_seconds": self.limits.cpu_seconds,
                           "open_files": self.limits.open_files, "file_bytes": self.limits.file_bytes}}
        try:
            reply = z.request(spec, [theirs.fileno()])
        except BaseException:
            self._cleanup()
            raise
        finally:
            theirs.close()
        self._sock, self._pid, self._sid = ours, int(reply["pid"]), int(reply["sid"])
        self.isolation = isolation_notes(z.hello, user, landlock, bool(reply.get("pidns")))
        isolated = self.isolation["network"].startswith("own") and (user is not None or landlock)
        if not isolated and settings.REGISTRY_SANDBOX_REQUIRE_ISOLATION:
            self._end(kill=True)
            raise SandboxError(
                "the sandbox is refused: this machine cannot isolate it "
                f"(network: {self.isolation['network']}; files: {self.isolation['files']}). "
                "REGISTRY_SANDBOX_REQUIRE_ISOLATION is on, as it must be in production")
        try:
            self.info, _ = self.call("load", {"path": str(target), "format": self.fmt, "trusted_types":
                                             list(self.types), "trust_pickle": self.trust_pickle})
        except BaseException:
            self._end(kill=True)
            raise
        return self

    def call(self, job: str, args: dict[str, Any] | None = None, arrays: dict[str, np.ndarray] | None = None,
             ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """Run one job: its result and arrays, or a SandboxError. After a crash, a limit or a timeout the session
        is over; after an error the job itself reported (the model raised), it can be used again."""
        if self._sock is None:
            raise SandboxError("the sandbox session is closed")
        deadline = time.monotonic() + self.limits.timeout_seconds
        try:
            wire.send(self._sock, {"job": job, "args": args or {}}, arrays, deadline=deadline)
            header, out = wire.recv(self._sock, limit=self.limits.result_bytes, deadline=deadline)
        except TimeoutError as exc:
            self._end(kill=True)
            raise SandboxError(f"the model did not finish within {self.limits.timeout_seconds:g} s "
                               "(REGISTRY_SANDBOX_TIMEOUT_SECONDS) and was stopped") from exc
        except (wire.WireError, OSError) as exc:
            self._end(kill=True)
            raise SandboxError(self._why_ended(exc)) from exc
        if header.get("ok") is True and isinstance(header.get("result"), dict):
            return header["result"], out
        if header.get("ok") is False and isinstance(header.get("error"), str):
            reason = header["error"]
            if header.get("reason") == "memory":
                reason += f" (the limit is {self.limits.memory_bytes // (1024 * 1024)} MB, REGISTRY_SANDBOX_MEMORY_MB)"
            raise SandboxError(_printable(reason))
        self._end(kill=True)
        raise SandboxError("the model's sandbox answered out of format")

    def _why_ended(self, exc: BaseException) -> str:
        """Why the child stopped answering: its exit status, and the last line it wrote to stderr."""
        status = self.usage.get("status")
        if isinstance(status, int) and os.WIFSIGNALED(status):
            sig = os.WTERMSIG(status)
            try:
                what = _SIGNALS.get(signal.Signals(sig), f"was killed by signal {sig}")
            except ValueError:
                what = f"was killed by signal {sig}"
            if sig == signal.SIGKILL and float(self.usage.get("cpu_seconds") or 0) >= self.limits.cpu_seconds:
                what = (f"was stopped at its CPU time limit of {self.limits.cpu_seconds} s "
                        "(REGISTRY_SANDBOX_CPU_SECONDS)")
            message = f"the model's sandbox {what}"
        elif isinstance(status, int) and os.WIFEXITED(status):
            message = f"the model's sandbox exited (status {os.WEXITSTATUS(status)}) before it answered"
        else:
            message = f"the model's sandbox stopped answering ({exc})"
        lines = self.stderr_tail.strip().splitlines()
        return f"{message}: {_printable(lines[-1])}" if lines else message

    def close(self) -> None:
        self._end(kill=False)

    def _end(self, *, kill: bool) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()  # the child sees the end of its input and exits
        if self._sid:
            if kill:
                _kill(self._pid)
            self.usage = self._wait()
        self._cleanup()

    def _wait(self) -> dict[str, Any]:
        # A child that ignores the end of its input is stopped after a grace period.
        timer = threading.Timer(5.0, _kill, (self._pid,))
        timer.start()
        try:
            return zygote().request({"op": "wait", "sid": self._sid})
        except SandboxError:
            return {}
        finally:
            timer.cancel()
            self._sid = 0

    def _cleanup(self) -> None:
        scratch, self._scratch = self._scratch, None
        if scratch is not None:
            try:
                self.stderr_tail = (scratch / "work" / "stderr.log").read_bytes()[-2000:].decode("utf-8", "replace")
            except OSError:
                self.stderr_tail = ""
            shutil.rmtree(scratch, ignore_errors=True)


def _kill(pid: int) -> None:
    with contextlib.suppress(OSError):
        os.kill(pid, signal.SIGKILL)


def _printable(text: str) -> str:
    return "".join(c if c.isprintable() else " " for c in text)[:2000]
