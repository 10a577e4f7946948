"""Text from outside (file names, source paths, reasons built from them) made safe to print
on one line: :func:`shown_path`. A core module, so every stage (ingest, curate, review)
escapes names the same way without importing another stage.
"""

from __future__ import annotations

import re

# Control characters, line separators and lone surrogates (the bytes of a name that is not
# valid UTF-8, as os.fsdecode gives them): printed escaped so one path stays one line and
# cannot drive the terminal.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(m: re.Match[str]) -> str:
    c = m.group()
    code = ord(c)
    if c in _NAMED:
        return _NAMED[c]
    if 0xDC80 <= code <= 0xDCFF:  # surrogateescape: the undecodable byte itself
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def shown_path(text: str) -> str:
    """``text`` (a path or a reason) safe to print on one line, and valid UTF-8."""
    return _UNSAFE.sub(_escape, text)
