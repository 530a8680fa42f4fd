"""Serve the change-report deployment with its event trigger, for the automation tests.

Usage: python tests/serve_change_report.py WAREHOUSE DEPLOYMENT_NAME [WITHIN_SECONDS]
Runs until terminated (Prefect's runner stops on SIGTERM/SIGINT).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flows.change_report import (  # noqa: E402
    CHANGE_REPORT_WINDOW_SECONDS,
    change_report,
    change_report_trigger,
    warehouse_label,
)


def main() -> None:
    warehouse, name = sys.argv[1], sys.argv[2]
    within = float(sys.argv[3]) if len(sys.argv) > 3 else CHANGE_REPORT_WINDOW_SECONDS
    change_report.serve(
        name=name,
        triggers=[change_report_trigger(warehouse, within_seconds=within)],
        parameters={"warehouse_path": warehouse_label(warehouse)},
    )


if __name__ == "__main__":
    main()
