"""A PDF, like a zip, can expand: bound its compressed streams before PDFium sees them.

PDFium inflates a page's content stream whole when it loads the page: a 487 kB file whose
one content stream inflates to 500 MB took 1.5 GB of memory (pypdf, the reader before,
stopped at its own limit). :func:`check_streams` inflates every Flate stream of the file as
a stream, in bounded steps, counting what comes out, and refuses the file at the first byte
past ``--max-unzipped-mb``; nothing it inflates is kept. Image streams are skipped: text
extraction never decodes them, and a scan's pictures may well be large. Streams under other
filters (LZW, or Flate behind ASCII85) are not counted; the extracted text stays bounded by
the same limit in the reader.

Inflating costs time (a twentieth of a text PDF's ingest), and most files cannot reach the
limit anyway: Flate expands at most 1032-fold (a 258-byte match coded in two bits), so
streams that together could not expand past the limit even if each ran to the end of the
file are not inflated. Streams are inflated from the first while the rest could still pass
the limit; the decision is the same as inflating them all.
"""

from __future__ import annotations

import re
import zlib

from generator.errors import IngestError
from generator.ingest.archive import ZipLimits, size_text

# a literal start lets the regex engine skip ahead (a look-behind for "end" made it try every
# byte: half of this check); "endstream" is left out after the match
_STREAM = re.compile(rb"stream\r?\n")
_DICT_LOOKBACK = 4096  # bytes before "stream" searched for the stream's dictionary
_BUF = 1 << 16
_MAX_RATIO = 1032  # what one byte of Flate data can inflate to, at most


def _is_image(data: bytes, at: int) -> bool:
    head = data[max(0, at - _DICT_LOOKBACK) : at]
    start = head.rfind(b" obj")
    return b"/Image" in (head[start:] if start >= 0 else head[-512:])


def _inflated(data: bytes, start: int, budget: int) -> int:
    """Bytes the Flate stream at ``start`` inflates to, counting at most ``budget + 1``."""
    inflater = zlib.decompressobj()
    view = memoryview(data)  # slices of it are not copies
    pos, total = start, 0
    while not inflater.eof and total <= budget:
        if inflater.unconsumed_tail:
            feed: bytes | memoryview = inflater.unconsumed_tail
        elif pos < len(data):
            feed, pos = view[pos : pos + _BUF], pos + _BUF
        else:
            break
        try:
            total += len(inflater.decompress(feed, _BUF))
        except zlib.error:  # not Flate, or damaged: PDFium decides what to make of it
            break
    return total


def _most(data: bytes, start: int) -> int:
    """The most a Flate stream starting at ``start`` can inflate to: all the rest of the
    file, at the highest ratio (and a margin for the end of the data)."""
    return (len(data) - start + 1) * _MAX_RATIO


def check_streams(data: bytes, path: str, limits: ZipLimits) -> None:
    """Refuse a PDF whose Flate streams together inflate past ``limits.max_bytes``."""
    starts = [
        match.end()
        for match in _STREAM.finditer(data)
        # a zlib header's first byte says "deflate": else not Flate; images are not counted
        if match.end() < len(data)
        and data[max(match.start() - 3, 0) : match.start()] != b"end"
        and data[match.end()] & 0x0F == 8
        and not _is_image(data, match.start())
    ]
    could = sum(_most(data, start) for start in starts)  # the streams not yet inflated
    total = 0
    for start in starts:
        if total + could <= limits.max_bytes:
            return  # the rest cannot pass the limit even at the highest ratio
        could -= _most(data, start)
        total += _inflated(data, start, limits.max_bytes - total)
        if total > limits.max_bytes:
            raise IngestError(
                path,
                f"PDF bomb: its streams expand past {size_text(limits.max_bytes)} "
                "(--max-unzipped-mb)",
            )
