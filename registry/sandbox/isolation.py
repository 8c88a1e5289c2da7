"""The kernel's isolation for a sandboxed child: namespaces, limits, an unprivileged user and Landlock.

Each step says what it achieved, so a report or a registration can record the isolation that applied. Linux only;
Python 3.11 has no os.unshare, so the system calls go through ctypes. Django-free.
"""

from __future__ import annotations

import ctypes
import errno
import os
import resource
import signal
import struct
from collections.abc import Iterable
from pathlib import Path
from typing import Any

CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x00020000, 0x10000000, 0x20000000, 0x40000000
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS, PR_SET_DUMPABLE = 1, 38, 4
_SYS_LANDLOCK_CREATE, _SYS_LANDLOCK_ADD, _SYS_LANDLOCK_RESTRICT = 444, 445, 446

_libc = ctypes.CDLL(None, use_errno=True)


def _call(fn: Any, *args: Any) -> int:
    result = fn(*args)
    if result < 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))
    return int(result)


def unshare(flags: int) -> None:
    _call(_libc.unshare, ctypes.c_int(flags))


def own_network(as_root: bool) -> str:
    """A network namespace of its own, with no interface up: no socket reaches anything, loopback included.

    Unprivileged, a user namespace comes with it (the kernel requires one); the user's id stays what it was."""
    try:
        unshare(CLONE_NEWNET if as_root else CLONE_NEWUSER | CLONE_NEWNET)
    except OSError as exc:
        return f"shared with the host (the kernel refused a network namespace: {exc.strerror})"
    return "own network namespace, no interface up"


def own_pids() -> bool:
    """Children made after this live in a PID namespace whose first process takes every other with it."""
    try:
        unshare(CLONE_NEWPID)
    except OSError:
        return False
    return True


_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_REMOUNT, _MS_BIND, _MS_REC, _MS_PRIVATE = 1, 2, 4, 32, 4096, 16384, 1 << 18


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    _call(_libc.mount, source.encode() if source else None, target.encode(), fstype.encode() if fstype else None,
          ctypes.c_ulong(flags), data.encode() if data else None)


def _private_ancestor(path: Path, uid: int) -> Path | None:
    """The highest directory above `path` that the user `uid` cannot pass through, if any."""
    for ancestor in reversed(path.parents):
        st = ancestor.stat()
        if not st.st_mode & 0o001 and st.st_uid != uid:
            return ancestor
    return None


def reveal(paths: Iterable[str], *, uid: int, stash: Path) -> list[str]:
    """Let the sandbox user reach code that lives under a private directory (Python under /root, say), in a mount
    namespace of this process's own: the private directory is replaced by an empty one holding, read-only, only
    the subtrees the code is in; what else it holds stays out of sight. Returns the directories so replaced."""
    plan: dict[Path, set[Path]] = {}
    for entry in paths:
        path = Path(entry).resolve()
        if not path.is_dir():
            continue
        private = _private_ancestor(path, uid)
        if private is not None:
            plan.setdefault(private, set()).add(private / path.relative_to(private).parts[0])
    if not plan:
        return []
    unshare(CLONE_NEWNS)
    _mount(None, "/", None, _MS_REC | _MS_PRIVATE)
    for i, (private, keep) in enumerate(sorted(plan.items())):
        held = []
        for j, subtree in enumerate(sorted(keep)):
            hold = stash / f"keep-{i}-{j}"
            hold.mkdir(mode=0o700)
            _mount(str(subtree), str(hold), None, _MS_BIND | _MS_REC)
            held.append((subtree, hold))
        _mount("tmpfs", str(private), "tmpfs", _MS_NOSUID | _MS_NODEV, "mode=0755,size=64k")
        for subtree, hold in held:
            subtree.mkdir(mode=0o755)
            _mount(str(hold), str(subtree), None, _MS_BIND | _MS_REC)
            _mount(None, str(subtree), None, _MS_BIND | _MS_REMOUNT | _MS_RDONLY)
    return [str(p) for p in sorted(plan)]


def set_limits(*, memory_bytes: int, cpu_seconds: int, open_files: int, file_bytes: int) -> None:
    # The hard CPU limit kills (SIGKILL) a second after the soft one warns, even the first process of a namespace.
    for what, soft, hard in ((resource.RLIMIT_AS, memory_bytes, memory_bytes),
                             (resource.RLIMIT_CPU, cpu_seconds, cpu_seconds + 1),
                             (resource.RLIMIT_NOFILE, open_files, open_files),
                             (resource.RLIMIT_FSIZE, file_bytes, file_bytes),
                             (resource.RLIMIT_CORE, 0, 0)):
        resource.setrlimit(what, (soft, hard))


def drop_user(uid: int, gid: int) -> None:
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)
    if os.getuid() != uid or os.geteuid() != uid:
        raise OSError(errno.EPERM, "the user id did not change")


def no_new_privileges(die_with_parent: bool) -> None:
    _call(_libc.prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    _call(_libc.prctl, PR_SET_DUMPABLE, 0, 0, 0, 0)  # no ptrace into it, no core
    if die_with_parent:
        _call(_libc.prctl, PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)


# -- Landlock: the file system seen read-only where code lives, writable only in the scratch directory --------

_FS_EXECUTE, _FS_WRITE_FILE, _FS_READ_FILE, _FS_READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
_FS_ABI1 = (1 << 13) - 1
_FS_REFER, _FS_TRUNCATE, _FS_IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
_FILE_RIGHTS = _FS_EXECUTE | _FS_WRITE_FILE | _FS_READ_FILE | _FS_TRUNCATE | _FS_IOCTL_DEV
_NET_BIND_TCP, _NET_CONNECT_TCP = 1 << 0, 1 << 1
_SCOPE_ABSTRACT_UNIX, _SCOPE_SIGNAL = 1 << 0, 1 << 1
READ = _FS_EXECUTE | _FS_READ_FILE | _FS_READ_DIR


def landlock_abi() -> int:
    try:
        return _call(_libc.syscall, _SYS_LANDLOCK_CREATE, None, ctypes.c_size_t(0), ctypes.c_uint32(1))
    except OSError:
        return 0


def landlock(*, read: Iterable[str], write: Iterable[str], list_only: Iterable[str] = ()) -> str:
    """Restrict this process and its children for good: files readable beneath `read`, writable beneath `write`,
    directories in `list_only` listable; no TCP at all; no signal to, or abstract socket of, anything outside."""
    abi = landlock_abi()
    if abi < 1:
        return "unavailable (the kernel has no Landlock)"
    fs = _FS_ABI1 | (_FS_REFER if abi >= 2 else 0) | (_FS_TRUNCATE if abi >= 3 else 0) | (
        _FS_IOCTL_DEV if abi >= 5 else 0)
    net = _NET_BIND_TCP | _NET_CONNECT_TCP if abi >= 4 else 0
    scoped = _SCOPE_ABSTRACT_UNIX | _SCOPE_SIGNAL if abi >= 6 else 0
    attr = struct.pack("=QQQ", fs, net, scoped)[: 8 if abi < 4 else 16 if abi < 6 else 24]
    buf = ctypes.create_string_buffer(attr, len(attr))
    ruleset = _call(_libc.syscall, _SYS_LANDLOCK_CREATE, buf, ctypes.c_size_t(len(attr)), ctypes.c_uint32(0))
    try:
        rules = [(p, READ) for p in read] + [(p, fs) for p in write] + [(p, _FS_READ_DIR) for p in list_only]
        for path, rights in rules:
            try:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                continue  # a path this machine lacks grants nothing
            try:
                allowed = rights & fs if os.path.isdir(path) else rights & fs & _FILE_RIGHTS
                if not allowed:
                    continue
                rule = ctypes.create_string_buffer(struct.pack("=Qi", allowed, fd), 12)
                _call(_libc.syscall, _SYS_LANDLOCK_ADD, ruleset, 1, rule, ctypes.c_uint32(0))
            finally:
                os.close(fd)
        _call(_libc.syscall, _SYS_LANDLOCK_RESTRICT, ruleset, ctypes.c_uint32(0))
    finally:
        os.close(ruleset)
    return f"Landlock ABI {abi}: files read-only where code lives, writable only in its scratch directory" + (
        "; no TCP" if net else "") + ("; no signals or abstract sockets outside" if scoped else "")


def readable_code(project_root: Path, search_path: Iterable[str]) -> tuple[list[str], list[str]]:
    """What the child may read: the interpreter, its libraries, this project's packages (not its data or keys),
    and the few system files libraries consult. Returns (read, list_only)."""
    read = {"/usr", "/lib", "/lib64", "/bin", "/etc/ld.so.cache", "/etc/localtime", "/etc/nsswitch.conf",
            "/etc/passwd", "/etc/group", "/dev/null", "/dev/urandom", "/proc/self", "/proc/cpuinfo",
            "/proc/meminfo", "/sys/devices/system/cpu", "/sys/fs/cgroup"}
    root = project_root.resolve()
    for entry in search_path:
        if not entry:
            continue
        path = Path(entry).resolve()
        # The root itself holds var/ (the database, keys, media): only its packages are read. An entry that holds
        # the root (a library putting its working directory, "/", on sys.path) would open everything: never.
        if path != root and path not in root.parents:
            read.add(str(path))
    for child in root.iterdir():
        if child.is_dir() and (child / "__init__.py").exists():
            read.add(str(child))
    return sorted(read), [str(root)]


# -- seccomp: no new socket, no connect ------------------------------------------------------------------------
# A network namespace and Landlock leave Unix sockets named in the file system reachable (a PostgreSQL socket
# under /run/postgresql, which may trust local connections): the child may make no socket and connect none. It
# keeps the one it was given, already connected to its parent. io_uring would do the same calls unseen: refused.

_SECCOMP_MODE_FILTER, _PR_SET_SECCOMP = 2, 22
_SECCOMP_RET_ALLOW, _SECCOMP_RET_ERRNO, _SECCOMP_RET_KILL_PROCESS = 0x7FFF0000, 0x00050000, 0x80000000
# audit arch, x32 bit (0 where none), and the calls refused: socket, socketpair, connect, bind, listen, accept,
# accept4, io_uring_setup.
_SECCOMP_ARCH = {
    "x86_64": (0xC000003E, 0x40000000, (41, 53, 42, 49, 50, 43, 288, 425)),
    "aarch64": (0xC00000B7, 0, (198, 199, 203, 200, 201, 202, 242, 425)),
}


def _bpf(code: int, jt: int, jf: int, k: int) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k)


def socket_filter() -> str:
    """What no_sockets() applies on this machine, in words."""
    if os.uname().machine not in _SECCOMP_ARCH:
        return f"no socket filter on this architecture ({os.uname().machine}): Unix sockets remain reachable"
    return "seccomp: the child can make, bind or connect no socket (Unix sockets included)"


def no_sockets() -> None:
    """Install the filter for good (no_new_privileges must come first); a failure stops the child."""
    arch = _SECCOMP_ARCH.get(os.uname().machine)
    if arch is None:
        return
    audit_arch, x32, calls = arch
    ld_nr, ld_arch, jeq, jge, ret = 0x20, 0x20, 0x15, 0x35, 0x06  # BPF_LD|W|ABS, BPF_JMP|JEQ|K, JGE, BPF_RET|K
    prog = [_bpf(ld_arch, 0, 0, 4), _bpf(jeq, 1, 0, audit_arch), _bpf(ret, 0, 0, _SECCOMP_RET_KILL_PROCESS),
            _bpf(ld_nr, 0, 0, 0)]
    if x32:
        prog.append(_bpf(jge, len(calls) + 1, 0, x32))  # any x32 call: to the refusal, past the allow
    for i, nr in enumerate(calls):
        prog.append(_bpf(jeq, len(calls) - i, 0, nr))
    prog += [_bpf(ret, 0, 0, _SECCOMP_RET_ALLOW), _bpf(ret, 0, 0, _SECCOMP_RET_ERRNO | errno.EPERM)]
    code = b"".join(prog)
    filt = ctypes.create_string_buffer(code, len(code))

    class _Prog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    fprog = _Prog(len(prog), ctypes.cast(filt, ctypes.c_void_p))
    _call(_libc.prctl, _PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0)
