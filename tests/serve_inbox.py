"""Serve the `ingest-file` deployment (with its file.arrived trigger) for one warehouse until killed.

Run by tests/test_inbox.py as a subprocess: `python tests/serve_inbox.py WAREHOUSE`. The test waits for
the automation to exist on the server.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flows.inbox import ingest_file_deployment  # noqa: E402
from flows.serve import serve_deployments  # noqa: E402


def main(warehouse_path: str) -> None:
    deployment = ingest_file_deployment(warehouse_path)
    serve_deployments(deployment, print_starting_message=True)


if __name__ == "__main__":
    main(sys.argv[1])
