"""Hostile files beside good ones: the ingest stays bounded in time and memory, records each hostile
input as a visit with its reason, and loads the good files.

The ingest runs in a child process so its own peak RSS is measured (tests/child_usage.py).
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import struct
import subprocess
import sys
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from child_usage import run_measured
from parsers.limits import MAX_INPUT_BYTES

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "seeds" / "000_7da5a18f75e09145.txt"
PAGE = ROOT / "tests" / "fixtures" / "kazinform" / "gen_a_ru.html"

# The whole hostile ingest, generous for a loaded 2-core machine (it takes a few seconds here).
MAX_INGEST_SECONDS = 60
# A plain ingest of the seed peaks at ~250 MB (Prefect's client is most of it); the hostile run
# may hold a few capped inputs (5 MB each, some copies while parsed) on top, never a bomb's
# gigabytes (before the caps: 2.1 GB for a 1 GB bomb, 2.5 GB for a 200 MB text file).
BASELINE_MARGIN_MB = 150
HUGE_FILE_BYTES = 200 * 2**20
BOMB_UNPACKED_MIB = 4_600  # ~4.8 GB from ~4.8 MB: the file itself stays under MAX_INPUT_BYTES

CHILD = """
import json, sys
from flows.ingest import ingest_files
summary = ingest_files(json.loads(sys.argv[1]), sys.argv[2])
print(json.dumps({"counts": dict(summary.counts), "text": summary.to_text()}))
"""


@dataclass
class ChildRun:
    seconds: float
    peak_rss_mb: float
    counts: dict[str, int]
    summary: str


def run_ingest_child(
    inputs: list[str], warehouse: Path, env: dict[str, str], preexec: Callable[[], None] | None = None
) -> ChildRun:
    """`ingest_files(inputs, warehouse)` in a child process: its wall time, its own peak RSS, its summary."""
    child = run_measured(
        CHILD, [json.dumps(inputs), str(warehouse)], env=env, timeout=5 * MAX_INGEST_SECONDS, preexec=preexec
    )
    assert child.returncode == 0, child.stderr[-3000:]
    result = json.loads(child.stdout.strip().splitlines()[-1])
    return ChildRun(child.seconds, child.peak_rss_mb, result["counts"], result["text"])


def visits_by_name(warehouse: Path) -> dict[str, tuple[str, str | None, int | None]]:
    """File name → (outcome, error, raw bytes kept) of each visit."""
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        rows = connection.execute(
            "select v.path, v.outcome, v.error, r.size from visits v left join raw_pages r using (raw_sha256)"
        ).fetchall()
    return {Path(path).name: (outcome, error, size) for path, outcome, error, size in rows}


def gzip_bomb(unpacked_mib: int) -> bytes:
    """A valid gzip member of `unpacked_mib` MiB of zeros, built in ~2 s without inflating anything.

    After a full flush a deflate block depends on no earlier data, so one compressed MiB of zeros
    repeated is a valid stream; the trailer carries the real CRC-32 and size.
    """
    chunk = b"\0" * 2**20
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = compressor.compress(chunk) + compressor.flush(zlib.Z_FULL_FLUSH)
    final_block = zlib.compressobj(9, zlib.DEFLATED, -15).flush()
    crc = 0
    for _ in range(unpacked_mib):
        crc = zlib.crc32(chunk, crc)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    trailer = struct.pack("<II", crc, (unpacked_mib * 2**20) & 0xFFFFFFFF)
    return header + block * unpacked_mib + final_block + trailer


def nested_divs(depth: int) -> bytes:
    return ("<html><body>" + "<div>" * depth + "x" + "</div>" * depth + "</body></html>").encode()


@pytest.fixture(scope="module")
def bomb_bytes(pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """Cached between runs when pytest's cache is on: the same bytes every time."""
    cache = getattr(pytestconfig, "cache", None)  # None under `-p no:cacheprovider`
    folder = cache.mkdir("hostile-files") if cache is not None else tmp_path_factory.mktemp("hostile-files")
    cached = folder / f"bomb-{BOMB_UNPACKED_MIB}.html.gz"
    if not cached.exists():
        cached.write_bytes(gzip_bomb(BOMB_UNPACKED_MIB))
    return cached.read_bytes()


@pytest.fixture(scope="module")
def child_env(prefect_api: str) -> dict[str, str]:
    return {**os.environ, "PREFECT_API_URL": prefect_api}


@pytest.fixture(scope="module")
def plain_peak_rss_mb(child_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> float:
    """What an ingest of the seed alone peaks at: the memory bound is set relative to it."""
    run = run_ingest_child([str(SEED)], tmp_path_factory.mktemp("plain") / "plain.duckdb", child_env)
    assert run.counts == {"created": 1}
    print(f"plain seed ingest: {run.seconds:.1f} s, peak RSS {run.peak_rss_mb:.0f} MB")
    return run.peak_rss_mb


def test_gzip_bomb_is_valid_gzip_of_the_stated_size() -> None:
    small = gzip_bomb(3)
    assert zlib.decompress(small, 31) == b"\0" * 3 * 2**20  # checks the CRC and size too


def test_hostile_files_beside_good_ones(
    child_env: dict[str, str], plain_peak_rss_mb: float, bomb_bytes: bytes, tmp_path: Path
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    shutil.copy(SEED, inbox / "good_seed.txt")
    shutil.copy(PAGE, inbox / "good_page.html")
    (inbox / "bomb.html.gz").write_bytes(bomb_bytes)
    assert len(bomb_bytes) < MAX_INPUT_BYTES  # so it is unpacked, not refused by its size
    (inbox / "deep_100k.html").write_bytes(nested_divs(100_000))
    (inbox / "deep_200k.html").write_bytes(nested_divs(200_000))
    with (inbox / "huge.txt").open("wb") as huge:  # sparse: a text line, then a hole to 200 MiB
        huge.write(SEED.read_bytes())
        huge.truncate(HUGE_FILE_BYTES)
    (inbox / "loop").symlink_to(".")  # a directory link back to its own directory
    (inbox / "self_loop.txt").symlink_to("self_loop.txt")
    (inbox / "dangling.html").symlink_to("gone.html")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "loop_a.txt").symlink_to("loop_b.txt")
    (outside / "loop_b.txt").symlink_to("loop_a.txt")
    missing = outside / "not-there.txt"
    warehouse = tmp_path / "hostile.duckdb"

    run = run_ingest_child([str(inbox), str(missing), str(outside / "loop_a.txt")], warehouse, child_env)
    print(f"hostile ingest: {run.seconds:.1f} s, peak RSS {run.peak_rss_mb:.0f} MB\n{run.summary}")

    assert run.seconds < MAX_INGEST_SECONDS
    assert run.peak_rss_mb < plain_peak_rss_mb + BASELINE_MARGIN_MB, (run.peak_rss_mb, plain_peak_rss_mb)
    visits = visits_by_name(warehouse)
    assert visits["good_seed.txt"][0] == "created"
    assert visits["good_page.html"][0] == "created"
    assert visits["bomb.html.gz"] == (
        "parse_error",
        "gzip data unpacks to more than 5,000,000 bytes",
        len(bomb_bytes),  # the raw bytes are kept, as for every parse error
    )
    for name, depth in (("deep_100k.html", "99,998"), ("deep_200k.html", "99,998")):
        outcome, error, _ = visits[name]
        assert outcome == "parse_error"
        assert error == f"HTML nesting deeper than 512 elements (found {depth} or more)"
    assert visits["huge.txt"] == (
        "failed",
        "file is 209,715,200 bytes, more than the 5,000,000-byte limit",
        None,
    )
    assert visits["loop"][:2] == ("failed", "symbolic link loop (it leads back to a directory above it)")
    assert visits["self_loop.txt"][:2] == ("failed", "symbolic link loop")
    assert visits["dangling.html"][:2] == (
        "failed",
        "dangling symbolic link (its target gone.html does not exist)",
    )
    assert visits["not-there.txt"][:2] == ("failed", "no such file or directory")
    assert visits["loop_a.txt"][:2] == ("failed", "symbolic link loop")
    assert len(visits) == 11  # nothing else was read, nothing twice (the loop was not followed)
    assert "dangling symbolic link" in run.summary


# Linux capabilities that let root read and search through any file mode (capabilities(7)).
_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH = 1, 2
_PR_CAPBSET_DROP = 24


def _without_permission_override() -> None:
    """In the child before exec: drop the capabilities by which root ignores file modes.

    Dropped from the bounding set, they are gone after exec too, so the child is root that mode
    000 stops, as it stops any user. (Switching to `nobody` is not possible here: the interpreter
    lives under root's private home.)
    """
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH):
        if libc.prctl(_PR_CAPBSET_DROP, capability, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


def test_unreadable_files_and_directories(child_env: dict[str, str], tmp_path: Path) -> None:
    """Root reads through mode 000, so as root the child runs without that override."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    shutil.copy(SEED, inbox / "good_seed.txt")
    shutil.copy(SEED, inbox / "locked.txt")
    locked_dir = inbox / "locked_dir"
    locked_dir.mkdir()
    shutil.copy(PAGE, locked_dir / "inside.html")
    (inbox / "locked.txt").chmod(0o000)
    locked_dir.chmod(0o000)
    preexec = _without_permission_override if os.geteuid() == 0 else None
    probe = subprocess.run(
        [sys.executable, "-c", f"open({str(inbox / 'locked.txt')!r}, 'rb')"],
        preexec_fn=preexec, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if probe.returncode == 0:
        pytest.skip("this machine lets the child read a mode-000 file (capabilities cannot be dropped here)")
    assert "PermissionError" in probe.stderr
    warehouse = tmp_path / "perm.duckdb"

    try:
        run = run_ingest_child([str(inbox)], warehouse, child_env, preexec)
    finally:
        locked_dir.chmod(0o755)  # so pytest can clean up
    print(f"unreadable inputs: {run.seconds:.1f} s, peak RSS {run.peak_rss_mb:.0f} MB\n{run.summary}")

    visits = visits_by_name(warehouse)
    assert visits["good_seed.txt"][0] == "created"
    assert visits["locked.txt"][:2] == ("failed", "cannot read file: permission denied")
    assert visits["locked_dir"][:2] == ("failed", "cannot list directory: permission denied")
    assert len(visits) == 3


def test_the_input_cap_is_a_setting() -> None:
    """$KAZINFORM_MAX_INPUT_BYTES lowers (or raises) the one cap on inputs, read and unpacked."""
    command = [str(Path(sys.executable).with_name("kazinform")), "parse", str(SEED)]
    capped = subprocess.run(
        command, env={**os.environ, "KAZINFORM_MAX_INPUT_BYTES": "1000"}, capture_output=True, text=True
    )
    assert capped.returncode == 1
    assert f"file is {SEED.stat().st_size:,} bytes, more than the 1,000-byte limit" in capped.stderr
    default = subprocess.run(command, capture_output=True, text=True)
    assert default.returncode == 0, default.stderr
