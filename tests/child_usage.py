"""Run Python code in a child process and measure that process alone: wall time and peak RSS.

A process started by pytest directly would not do: Linux carries the peak RSS of the process that
forked it (pytest, 230–500 MB by then) into the child's `ru_maxrss`, across the exec (a child
running `pass` under a 500 MB parent reports 512 MB). So the work runs in a process forked from a
small launcher, and the launcher reports that process's own `ru_maxrss` (os.wait4).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_LAUNCHER = """
import json, os, sys
code, usage_path, *args = sys.argv[1:]
pid = os.fork()
if pid == 0:
    sys.argv = ["-c", *args]
    try:
        exec(compile(code, "<child>", "exec"), {"__name__": "__main__"})
    except SystemExit as stop:
        os._exit(stop.code if isinstance(stop.code, int) else 1)
    except BaseException:
        import traceback
        traceback.print_exc()
        os._exit(1)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
_, status, usage = os.wait4(pid, 0)
with open(usage_path, "w") as out:
    json.dump({"peak_rss_kb": usage.ru_maxrss}, out)
sys.exit(os.waitstatus_to_exitcode(status))
"""


@dataclass
class ChildUsage:
    returncode: int
    seconds: float
    peak_rss_mb: float
    stdout: str
    stderr: str


def run_measured(
    code: str,
    args: Sequence[str] = (),
    *,
    env: dict[str, str] | None = None,
    timeout: float = 300.0,
    preexec: Callable[[], None] | None = None,
) -> ChildUsage:
    """`code` (with `args` as sys.argv[1:]) in a child of a small launcher; killed past `timeout`.
    `preexec` runs in the launcher before it starts, so the child inherits what it sets."""
    with tempfile.TemporaryDirectory(prefix="kazinform-child-") as folder:
        usage_path = Path(folder) / "usage.json"
        started = time.monotonic()
        launcher = subprocess.Popen(
            [sys.executable, "-c", _LAUNCHER, code, str(usage_path), *args],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=preexec,
            start_new_session=True,  # a stuck child is killed with its launcher
        )
        try:
            stdout, stderr = launcher.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(launcher.pid, signal.SIGKILL)
            launcher.communicate()
            raise
        seconds = time.monotonic() - started
        peak_kb = json.loads(usage_path.read_text())["peak_rss_kb"] if usage_path.exists() else 0
    return ChildUsage(launcher.returncode, seconds, peak_kb / 1024, stdout, stderr)
