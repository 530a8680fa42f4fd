"""Run a command (or Python code) in a child process and measure that process alone: wall time and
peak RSS.

A process started by a large one directly would not do: Linux carries the peak RSS of the process
that forked it into the child's `ru_maxrss`, across the exec (a child running `pass` under a 500 MB
parent reports 512 MB). And `getrusage(RUSAGE_CHILDREN)` is the largest peak of all children
waited for so far, so a second run would report the first's peak when that was larger. So the work
runs in a process forked from a small launcher (~10 MB), and the launcher reports that process's
own `ru_maxrss` (os.wait4).

The test suite measures its hostile cases with the same launcher (tests/child_usage.py).
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

# argv: mode ("exec": a command; "code": Python source and its arguments), the file for the usage.
_LAUNCHER = """
import json, os, sys
mode, usage_path, *rest = sys.argv[1:]
pid = os.fork()
if pid == 0:
    if mode == "exec":
        try:
            os.execvp(rest[0], rest)
        except OSError as error:
            print(f"cannot run {rest[0]}: {error}", file=sys.stderr)
            os._exit(127)
    code, *args = rest
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
    return _launch(["code", code, *args], env=env, cwd=ROOT, timeout=timeout, preexec=preexec)


def run_command_measured(
    command: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    cwd: Path = ROOT,
    timeout: float = 3600.0,
) -> ChildUsage:
    """`command` (an argv list) run by a child of a small launcher; killed past `timeout`."""
    return _launch(["exec", *command], env=env, cwd=cwd, timeout=timeout, preexec=None)


def _launch(
    launcher_args: list[str],
    *,
    env: dict[str, str] | None,
    cwd: Path,
    timeout: float,
    preexec: Callable[[], None] | None,
) -> ChildUsage:
    mode, *rest = launcher_args
    with tempfile.TemporaryDirectory(prefix="kazinform-child-") as folder:
        usage_path = Path(folder) / "usage.json"
        started = time.monotonic()
        launcher = subprocess.Popen(
            [sys.executable, "-c", _LAUNCHER, mode, str(usage_path), *rest],
            cwd=cwd,
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
