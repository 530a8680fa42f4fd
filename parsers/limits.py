"""Size bounds every input is held to, wherever it comes from (a file, an HTTP body, a gzip member).

News pages are 100–300 KB; the largest real Kazinform page seen is well under 1 MB. 5 MB leaves a
wide margin for an unusual page and still bounds what one input can cost in memory and parse time.
"""

from __future__ import annotations

# Bytes of one input as received or read, and again after any decompression (gzip file, gzip body).
MAX_INPUT_BYTES = 5_000_000
