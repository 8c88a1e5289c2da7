"""Models that misbehave, for the sandbox tests: pickled by reference, so the sandboxed child imports this module.

Django-free, as everything the child imports. Each behaves on registration's few sample rows and misbehaves on a
report's larger data, or reports what its process may do through its predictions.
"""

from __future__ import annotations

import ctypes
import os
import socket
import time
from typing import Any

import numpy as np

SAMPLE = 50  # registration predicts on fewer rows than this


class _Model:
    def predict(self, X: Any) -> np.ndarray:
        if len(X) > SAMPLE:
            self.misbehave()
        return np.zeros(len(X), dtype=int)

    def misbehave(self) -> None:
        """What the model does on a report's data."""


class EndlessAllocator(_Model):
    def misbehave(self) -> None:
        hoard = []
        while True:
            hoard.append(bytearray(64 << 20))


class EndlessLoop(_Model):
    def misbehave(self) -> None:
        while True:
            pass


class Sleeper(_Model):
    def misbehave(self) -> None:
        time.sleep(3600)


class Crasher(_Model):
    def misbehave(self) -> None:
        ctypes.string_at(0)  # a read of address 0: the kernel's SIGSEGV


class Reporter:
    """Predicts, for every row, a number that says what its process could do."""

    def __init__(self, what: str, arg: Any = None) -> None:
        self.what, self.arg = what, arg

    def predict(self, X: Any) -> np.ndarray:
        return np.full(len(X), self.observe(), dtype=np.int64)

    def observe(self) -> int:
        if self.what == "uid":
            return os.getuid()
        if self.what == "connect":
            try:
                socket.create_connection(("127.0.0.1", int(self.arg)), timeout=2).close()
            except OSError:
                return 0
            return 1
        if self.what == "read":
            try:
                with open(self.arg, "rb") as fh:
                    fh.read(1)
            except OSError:
                return 0
            return 1
        if self.what == "signal":
            try:
                os.kill(int(self.arg), 0)
            except OSError:
                return 0
            return 1
        return -1


class Probe:
    """Runs the Python source it was made with on predict and predicts, for every row, the int it left in
    `result`: what code a crafted artifact manages to run in the child could do."""

    def __init__(self, source: str) -> None:
        self.source = source

    def predict(self, X: Any) -> np.ndarray:
        scope: dict[str, Any] = {"result": -1}
        exec(self.source, scope)  # noqa: S102 - the point: code the artifact runs
        return np.full(len(X), int(scope["result"]), dtype=np.int64)
