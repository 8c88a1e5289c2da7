"""HTTP load with wrk: one endpoint at a time, URLs rotated, latency percentiles and non-2xx counted."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

_LUA = r"""
local paths = {%(paths)s}
%(headers)s
local threads = {}
function setup(thread)
  thread:set("offset", #threads * 7919)
  table.insert(threads, thread)
end
function init(args)
  counter = offset
  non2xx = 0
end
function request()
  counter = counter + 1
  return wrk.format("GET", paths[(counter %% #paths) + 1])
end
function response(status, headers, body)
  if status < 200 or status > 299 then non2xx = non2xx + 1 end
end
function done(summary, latency, requests)
  local bad = 0
  for _, t in ipairs(threads) do bad = bad + t:get("non2xx") end
  local e = summary.errors
  io.write(string.format("RESULT %%d %%d %%d %%d %%d %%d %%d\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), bad,
    e.connect + e.read + e.write + e.timeout))
end
"""


@dataclass
class Result:
    endpoint: str
    clients: int
    requests: int
    seconds: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: int

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def wrk_path() -> str:
    found = shutil.which("wrk")
    if not found:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    return found


def _lua_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def run(base_url: str, endpoint: str, paths: list[str], headers: dict[str, str], clients: int,
        seconds: float) -> Result:
    """Drive `paths` round-robin with `clients` keep-alive connections for `seconds`."""
    header_lines = "\n".join(f"wrk.headers[{_lua_string(k)}] = {_lua_string(v)}" for k, v in headers.items())
    script = _LUA % {"paths": ", ".join(_lua_string(p) for p in paths), "headers": header_lines}
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(script)
    try:
        threads = min(clients, os.cpu_count() or 1)
        proc = subprocess.run(
            [wrk_path(), "-t", str(threads), "-c", str(clients), "-d", f"{max(1, round(seconds))}s", "--latency",
             "--timeout", "30s", "-s", fh.name, base_url],
            capture_output=True, text=True, timeout=seconds + 120, check=False)
    finally:
        Path(fh.name).unlink()
    line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed on {endpoint}: {proc.stdout}\n{proc.stderr}")
    n, micros, p50, p95, p99, bad, errors = (int(x) for x in line.split()[1:])
    return Result(endpoint, clients, n, micros / 1e6, p50 / 1000, p95 / 1000, p99 / 1000, bad, errors)


def wait_until_up(url: str, timeout: float = 120, server: subprocess.Popen[bytes] | None = None) -> None:
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=5)  # noqa: S310 - loopback URL we built
            return
        except urllib.error.HTTPError:
            return  # it answered
        except OSError:
            if server is not None and server.poll() is not None:
                raise RuntimeError(f"server for {url} exited with {server.returncode}") from None
            time.sleep(0.3)
    raise RuntimeError(f"server at {url} did not come up in {timeout:.0f} s")
