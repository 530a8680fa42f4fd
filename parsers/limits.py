"""Size bounds every input is held to, wherever it comes from (a file, an HTTP body, a gzip member).

News pages are 100–300 KB; the largest real Kazinform page seen is well under 1 MB. 5 MB leaves a
wide margin for an unusual page and still bounds what one input can cost in memory and parse time.

The shape bounds below keep one page's parse under ~1 s on a 2-core machine whatever its bytes say
(measured on 4.5 MB pages: 1.1 M unclosed `<p>` took 9.5 s, 250 k images 4 s, 200 k nested divs
122 s). Each is far above any real page, so only hostile or broken input meets them; such input is
a parse error and its raw bytes are kept for a later look.
"""

from __future__ import annotations

import os
from pathlib import Path

MAX_INPUT_BYTES_ENV = "KAZINFORM_MAX_INPUT_BYTES"
DEFAULT_MAX_INPUT_BYTES = 5_000_000


def _max_input_bytes() -> int:
    """$KAZINFORM_MAX_INPUT_BYTES when set to a positive whole number, else the default."""
    configured = os.environ.get(MAX_INPUT_BYTES_ENV, "").replace("_", "")
    if configured.isdigit() and int(configured) > 0:
        return int(configured)
    if configured:
        raise ValueError(f"{MAX_INPUT_BYTES_ENV}={configured!r} is not a positive number of bytes")
    return DEFAULT_MAX_INPUT_BYTES


# Bytes of one input as received or read, and again after any decompression (gzip file, gzip body).
# Read once, when the pipeline starts.
MAX_INPUT_BYTES = _max_input_bytes()

# Open elements nested inside each other. Real pages nest 20–60 deep; browsers cap the tree at
# 512 too (Blink's parser). lexbor's tree building costs elements × depth (a 4.5 MB page of
# 2,000-deep nests took 1.2 s, of 512-deep ones 0.4 s), so the cap bounds the build time.
MAX_NESTING_DEPTH = 512

# Elements in one page. A 300 KB news page has 3–8 k; 100 k is a dense 5 MB page. Every pass of
# the parser over elements (meta tags, selectors, the body walk) is linear in this number.
MAX_ELEMENTS = 100_000

# Blocks (paragraphs, headings, list items, images) of one article body. The longest real
# articles have a few hundred; a block costs up to ~45 µs to build (a figure with its caption).
MAX_BLOCKS = 5_000

# Lines of one text copy (blank ones included): paragraphs are separated by blank lines, so this
# leaves room for MAX_BLOCKS paragraphs and bounds the per-line work before blocks are counted.
MAX_TEXT_LINES = 4 * MAX_BLOCKS

# Words of a text copy's tags line. Articles carry 3–15 tags; splitting costs ~3 µs a word.
MAX_TAG_WORDS = 1_000


class InputTooLargeError(Exception):
    """A file is larger than MAX_INPUT_BYTES; the message says how large, in words."""


def read_capped(path: Path, cap: int = MAX_INPUT_BYTES) -> bytes:
    """The file's bytes, or InputTooLargeError when it holds more than `cap` bytes.

    Decided by the size on disk and by a read of at most cap + 1 bytes (a file that grows while
    read, or reports no size), never by reading the whole file.
    """
    with path.open("rb") as file:
        size = os.fstat(file.fileno()).st_size
        if size > cap:
            raise InputTooLargeError(f"file is {size:,} bytes, more than the {cap:,}-byte limit")
        data = file.read(cap + 1)
    if len(data) > cap:
        raise InputTooLargeError(f"file holds more than the {cap:,}-byte limit (it grew while read)")
    return data
