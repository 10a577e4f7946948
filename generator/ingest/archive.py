"""Bounds for zip-based documents (``.docx``): a small file may hold a huge archive.

A file's size says little about a zip: 879 KB of DOCX held 53 MB of XML (three minutes of
parsing), and 1 GB of XML took 2.2 GB of memory. Before a reader parses an archive,
:func:`check_zip` reads its end record and central directory (never more than a bounded
number of bytes of it) and refuses it when the entry count or the declared uncompressed
size is above the limits; then it decompresses every entry as a stream, counting the bytes
and the XML elements that really come out, and stops at the first limit passed: the headers
could lie. Nothing it reads is kept, so memory stays at one buffer.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from dataclasses import dataclass

from generator.errors import IngestError

DEFAULT_MAX_UNZIPPED_MB = 100.0
DEFAULT_MAX_ZIP_ENTRIES = 10_000
# Elements of all XML parts together. python-docx builds a Python object per element (about
# 230 bytes and 20 us each): a million elements is about 20 s and 250 MB at worst; a
# 1,000-page Word document has a few hundred thousand.
DEFAULT_MAX_XML_ELEMENTS = 1_000_000
_CD_BYTES_PER_ENTRY = 512  # central directory bytes per permitted entry (Word's: ~100)
_EOCD = struct.Struct("<4s4H2LH")
_EOCD64_LOCATOR = struct.Struct("<4sLQL")
_EOCD64 = struct.Struct("<4sQ2H2L4Q")
_BUF = 1 << 16


@dataclass(frozen=True)
class ZipLimits:
    """What one archive may expand to."""

    max_bytes: int = int(DEFAULT_MAX_UNZIPPED_MB * 1_000_000)
    max_entries: int = DEFAULT_MAX_ZIP_ENTRIES
    max_xml_elements: int = DEFAULT_MAX_XML_ELEMENTS


def size_text(n: int) -> str:
    """A byte count for messages: MB, or kB below 0.1 MB (a tiny limit is not "0.0 MB")."""
    return f"{n / 1_000_000:.1f} MB" if n >= 100_000 else f"{n / 1000:.1f} kB"


def _directory(data: bytes, path: str) -> tuple[int, int]:
    """(entries, central directory bytes) from the end record (zip64 aware)."""
    at = data.rfind(b"PK\x05\x06", max(0, len(data) - _EOCD.size - 0xFFFF))
    if at < 0 or len(data) - at < _EOCD.size:
        raise IngestError(path, "corrupt DOCX: not a valid zip file (no end record)")
    _, _, _, _, entries, cd_size, _, _ = _EOCD.unpack_from(data, at)
    if entries == 0xFFFF or cd_size == 0xFFFFFFFF:  # zip64: the real values are elsewhere
        loc = at - _EOCD64_LOCATOR.size
        if loc < 0 or data[loc : loc + 4] != b"PK\x06\x07":
            raise IngestError(path, "corrupt DOCX: zip64 end record missing")
        offset = _EOCD64_LOCATOR.unpack_from(data, loc)[2]
        if offset + _EOCD64.size > len(data) or data[offset : offset + 4] != b"PK\x06\x06":
            raise IngestError(path, "corrupt DOCX: zip64 end record missing")
        entries, cd_size = _EOCD64.unpack_from(data, offset)[7:9]
    return entries, cd_size


def check_zip(data: bytes, path: str, limits: ZipLimits, kind: str = "DOCX") -> None:
    """Raise IngestError unless the archive stays inside ``limits`` (see module docstring)."""
    entries, cd_size = _directory(data, path)
    too_many = f"zip bomb: {kind} has more than {limits.max_entries:,} entries"
    if entries > limits.max_entries or cd_size > limits.max_entries * _CD_BYTES_PER_ENTRY:
        raise IngestError(path, too_many)
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, struct.error) as exc:
        raise IngestError(path, f"corrupt {kind}: not a valid zip file ({exc})") from exc
    with archive:
        infos = archive.infolist()
        if len(infos) > limits.max_entries:
            raise IngestError(path, too_many)
        declared = sum(i.file_size for i in infos)
        if declared > limits.max_bytes:
            raise IngestError(
                path,
                f"zip bomb: {kind} expands to {size_text(declared)}, above the limit of "
                f"{size_text(limits.max_bytes)} uncompressed (--max-unzipped-mb)",
            )
        _stream_all(archive, infos, path, limits, kind)


def _stream_all(
    archive: zipfile.ZipFile, infos: list[zipfile.ZipInfo], path: str, limits: ZipLimits, kind: str
) -> None:
    total = elements = 0
    for info in infos:
        xml = info.filename.endswith((".xml", ".rels"))
        try:
            with archive.open(info) as stream:
                while buf := stream.read(_BUF):
                    total += len(buf)
                    if total > limits.max_bytes:
                        raise IngestError(
                            path,
                            f"zip bomb: {kind} expands to more than {size_text(limits.max_bytes)} "
                            "uncompressed (--max-unzipped-mb); its headers understate it",
                        )
                    if xml:
                        elements += buf.count(b"<") - buf.count(b"</")
                        if elements > limits.max_xml_elements:
                            raise IngestError(
                                path,
                                f"zip bomb: {kind} has more than {limits.max_xml_elements:,} "
                                "XML elements, too many to read safely",
                            )
        except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as exc:
            raise IngestError(path, f"corrupt {kind}: {info.filename}: {exc}") from exc
