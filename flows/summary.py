"""End-of-run summary: counts per outcome and failures with reasons, printed and as a Prefect artifact."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from warehouse.visit import VisitInput

FAILURE_OUTCOMES = frozenset({"parse_error", "failed"})
MAX_FAILURES_SHOWN = 50


@dataclass
class RunSummary:
    run_id: str
    title: str
    counts: Counter[str] = field(default_factory=Counter)
    failures: list[tuple[str, str, str]] = field(default_factory=list)  # (locator, outcome, reason)
    bytes_read: int = 0
    unmatched_inputs: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0
    # Records read, by parser version ("kazinform@2026.1", "generic@1.0"): what read the pages, so
    # a run that fell back to the generic parser says so.
    parsers: Counter[str] = field(default_factory=Counter)
    # `--stage-only`: every batch went to the package store on purpose, for the loader.
    staged_only: bool = False
    # Ctrl-C asked the run to stop (flows.stop): what it held was kept as load packages.
    interrupted: bool = False
    inputs_not_read: int = 0  # files the stop left for the next run

    def add(self, visits: list[VisitInput], outcomes: list[str]) -> None:
        for visit, outcome in zip(visits, outcomes, strict=True):
            self.counts[outcome] += 1
            self.bytes_read += visit.raw_size or 0
            if visit.record is not None:
                self.parsers[visit.record.parser] += 1
            if outcome in FAILURE_OUTCOMES:
                self.failures.append((visit.locator, outcome, visit.error or ""))

    @property
    def visits(self) -> int:
        return sum(self.counts.values())

    def left_for_next_run(self) -> str:
        """What a stopped run did not start, for its summary line (the crawl counts URLs)."""
        if not self.inputs_not_read:
            return ""
        return f": {self.inputs_not_read} files not read, for the next run"

    def extra_lines(self) -> list[str]:
        """Hook for flows that report more figures (the crawl adds the 304 share)."""
        return []

    def to_text(self) -> str:
        lines = [f"{self.title} (run {self.run_id}): {self.visits} visits in {self.elapsed_s:.1f} s"]
        lines += [f"  {outcome:<13} {count}" for outcome, count in sorted(self.counts.items())]
        lines.append(f"  bytes read    {self.bytes_read}")
        if self.parsers:
            lines.append(f"  read by       {self.parsers_line()}")
        lines += [f"  {line}" for line in self.extra_lines()]
        if self.counts.get("pending"):
            pending = self.counts["pending"]
            visits = f"{pending} visit{'s' if pending != 1 else ''}"
            if self.staged_only:
                lines.append(
                    f"  staged only: {visits} as load packages for the loader (kazinform packages load, "
                    "or the load-packages deployment)"
                )
            else:
                why = "the run was stopped" if self.interrupted else "the warehouse stayed locked"
                lines.append(
                    f"  kept for the next run: {visits} as load packages ({why}); "
                    "the next run that writes loads them first"
                )
        if self.interrupted:
            lines.append(f"  stopped by Ctrl-C{self.left_for_next_run()}")
        for pattern in self.unmatched_inputs:
            lines.append(f"  no input matched: {pattern}")
        if self.failures:
            lines.append("failures:")
            lines += [
                f"  {loc}: {outcome}: {why}" for loc, outcome, why in self.failures[:MAX_FAILURES_SHOWN]
            ]
            if len(self.failures) > MAX_FAILURES_SHOWN:
                lines.append(f"  … and {len(self.failures) - MAX_FAILURES_SHOWN} more (see visits)")
        return "\n".join(lines)

    def parsers_line(self) -> str:
        """'kazinform@2026.1 120, generic@1.0 15 (generic parser: 15)'."""
        line = ", ".join(f"{parser} {count}" for parser, count in sorted(self.parsers.items()))
        generic = sum(n for parser, n in self.parsers.items() if parser.startswith("generic@"))
        return line + (f" (generic parser: {generic})" if generic else "")

    def to_markdown(self) -> str:
        rows = "\n".join(f"| {outcome} | {count} |" for outcome, count in sorted(self.counts.items()))
        parts = [
            f"# {self.title}",
            f"Run `{self.run_id}`: {self.visits} visits, {self.bytes_read} bytes, {self.elapsed_s:.1f} s.",
            "| outcome | visits |\n|---|---|\n" + rows,
        ]
        if self.parsers:
            parts.append(f"Read by: {self.parsers_line()}.")
        parts += [f"- {line}" for line in self.extra_lines()]
        if self.unmatched_inputs:
            parts.append("No input matched: " + ", ".join(f"`{p}`" for p in self.unmatched_inputs))
        if self.failures:
            failure_rows = "\n".join(
                f"| `{loc}` | {outcome} | {why.replace('|', '/')} |"
                for loc, outcome, why in self.failures[:MAX_FAILURES_SHOWN]
            )
            parts.append("## Failures\n| input | outcome | reason |\n|---|---|---|\n" + failure_rows)
        return "\n\n".join(parts)
