"""Load from a separate process: wrk, driven by one Lua script that replays a file of requests.

Every benchmark of the suite that needs HTTP load goes through `wrk_run`: the requests are built
(and signed) in Python beforehand and written one per line, wrk replays them over keep-alive
connections, and the Lua `done` hook writes its figures as JSON (wrk's own text output has no
p95). Bounded twice: by `duration` always, and by `limit` requests when given (the spike), after
which the connections only send a cheap filler (GET on a POST-only URL, answered 405 without
touching the database) until the last real answer is in; the script then drops a marker file and
the caller interrupts wrk (its main thread would otherwise sleep out the whole duration).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

# Lua runs inside wrk: the main state (setup/done) and each thread's state (init/request/response)
# are separate, so counters live in the thread and `done` collects them with thread:get.
LUA = r"""
local threads = {}
local reqs, n, i = {}, 0, 0
local limit = 0
local filler = nil
real, filler_answers, s2xx, s3xx, s4xx, s5xx = 0, 0, 0, 0, 0, 0

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  limit = tonumber(os.getenv("WRK_LIMIT") or "0")
  filler = wrk.format("GET", os.getenv("WRK_FILLER_PATH") or "/")
  for line in io.lines(os.getenv("WRK_REQUESTS")) do
    local fields = {}
    for field in (line .. "\t"):gmatch("([^\t]*)\t") do
      fields[#fields + 1] = field
    end
    local headers = {}
    for k = 4, #fields - 1, 2 do
      headers[fields[k]] = fields[k + 1]
    end
    local body = nil
    if fields[3] ~= "" then body = fields[3] end
    n = n + 1
    reqs[n] = wrk.format(fields[1], fields[2], headers, body)
  end
end

local checked = false
local last_real = os.time()
local give_up = tonumber(os.getenv("WRK_TIMEOUT") or "5") + 2

function request()
  -- wrk calls request() once before the run to check what it returns, and never sends that one.
  if not checked then
    checked = true
    return reqs[1]
  end
  i = i + 1
  if limit > 0 and i > limit then
    return filler
  end
  return reqs[(i - 1) % n + 1]
end

local function finish()
  -- wrk's main thread sleeps for the whole -d whatever the threads do: tell the caller, who
  -- sends SIGINT (wrk then reports and runs done as usual).
  local marker = io.open(os.getenv("WRK_RESULT") .. ".limit", "w")
  marker:close()
  wrk.thread:stop()
end

function response(status, headers, body)
  if limit > 0 and status == 405 then
    filler_answers = filler_answers + 1
    -- Every real request is out; one that timed out or lost its socket never answers.
    if os.time() - last_real > give_up then finish() end
    return
  end
  last_real = os.time()
  real = real + 1
  if status < 300 then s2xx = s2xx + 1
  elseif status < 400 then s3xx = s3xx + 1
  elseif status < 500 then s4xx = s4xx + 1
  else s5xx = s5xx + 1 end
  if limit > 0 and real == limit then finish() end
end

function done(summary, latency, requests)
  local t = {real = 0, filler = 0, s2xx = 0, s3xx = 0, s4xx = 0, s5xx = 0}
  for _, thread in ipairs(threads) do
    t.real = t.real + thread:get("real")
    t.filler = t.filler + thread:get("filler_answers")
    t.s2xx = t.s2xx + thread:get("s2xx")
    t.s3xx = t.s3xx + thread:get("s3xx")
    t.s4xx = t.s4xx + thread:get("s4xx")
    t.s5xx = t.s5xx + thread:get("s5xx")
  end
  local e = summary.errors
  local out = io.open(os.getenv("WRK_RESULT"), "w")
  out:write(string.format(
    '{"requests": %d, "duration_us": %d, "connect_errors": %d, "read_errors": %d, "write_errors": %d, ' ..
    '"timeouts": %d, "non_2xx_3xx": %d, "answered": %d, "filler": %d, "s2xx": %d, "s3xx": %d, ' ..
    '"s4xx": %d, "s5xx": %d, "p50_us": %d, "p95_us": %d, "p99_us": %d, "max_us": %d, "mean_us": %.1f}',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.timeout, e.status,
    t.real, t.filler, t.s2xx, t.s3xx, t.s4xx, t.s5xx,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max, latency.mean))
  out:close()
end
"""


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    body: str = ""
    headers: tuple[tuple[str, str], ...] = ()

    def line(self) -> str:
        fields = [self.method, self.path, self.body]
        for name, value in self.headers:
            fields += [name, value]
        if any("\t" in f or "\n" in f for f in fields):
            raise ValueError("a request field holds a tab or a newline: the file format cannot carry it")
        return "\t".join(fields)


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def write_requests(path: Path, requests: Iterable[Request]) -> int:
    count = 0
    with path.open("w") as out:
        for request in requests:
            out.write(request.line() + "\n")
            count += 1
    return count


def wrk_run(
    *,
    port: int,
    requests_file: Path,
    duration: float,
    connections: int,
    limit: int = 0,
    filler_path: str = "/",
    timeout: float = 5.0,
) -> dict:
    """Run wrk once against 127.0.0.1:port; figures in ms and requests/s (of answered requests)."""
    if not wrk_available():
        sys.exit("wrk is not installed (apt-get install -y wrk, or make bench installs it)")
    workdir = Path(tempfile.mkdtemp(prefix="bench-wrk-"))
    try:
        script = workdir / "replay.lua"
        script.write_text(LUA)
        result = workdir / "result.json"
        env = {
            **os.environ,
            "WRK_REQUESTS": str(requests_file),
            "WRK_LIMIT": str(limit),
            "WRK_FILLER_PATH": filler_path,
            "WRK_RESULT": str(result),
            "WRK_TIMEOUT": str(max(1, int(round(timeout)))),
        }
        # One thread: the request list and the count live in one Lua state.
        command = [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{max(1, int(round(duration)))}s",
            "--timeout",
            f"{max(1, int(round(timeout)))}s",
            "-s",
            str(script),
            f"http://127.0.0.1:{port}",
        ]
        marker = Path(f"{result}.limit")
        process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        # wrk's own -d bounds it; the extra margin only catches a hung wrk.
        deadline = time.monotonic() + duration + 60
        while process.poll() is None and time.monotonic() < deadline:
            if limit and marker.exists():
                process.send_signal(signal.SIGINT)
                break
            time.sleep(0.05)
        try:
            _, stderr = process.communicate(timeout=max(5.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            raise RuntimeError("wrk did not finish in time") from None
        if not result.exists():
            raise RuntimeError(f"wrk wrote no result (exit {process.returncode}): {stderr.strip()[:500]}")
        raw = json.loads(result.read_text())
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    seconds = raw["duration_us"] / 1e6
    real = raw["answered"] if raw["answered"] else raw["requests"] - raw["filler"]
    return {
        "rps": real / seconds if seconds else 0.0,
        "requests": real,
        "seconds": seconds,
        "p50_ms": raw["p50_us"] / 1000,
        "p95_ms": raw["p95_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "max_ms": raw["max_us"] / 1000,
        "status_2xx": raw["s2xx"],
        "status_4xx": raw["s4xx"],
        "status_5xx": raw["s5xx"],
        "socket_errors": raw["connect_errors"] + raw["read_errors"] + raw["write_errors"],
        "timeouts": raw["timeouts"],
    }
