"""Plain text (``.txt``), and the byte-to-text decoding every text-based reader shares.

Decoding order: a byte-order mark (UTF-8/16/32) wins; then strict UTF-8; then UTF-16 without
a BOM (recognised by its pattern of zero bytes); then charset-normalizer's guess. Data with
zero bytes that is not UTF-16, or that decodes to many control characters, is binary data
with a text extension and is refused with a clear reason rather than ingested as garbage.
"""

from __future__ import annotations

import codecs
import re

from generator.errors import IngestError
from generator.ingest.archive import ZipLimits
from generator.ingest.base import Parsed, Reader, tidy

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# charset-normalizer guesses poorly between the Latin code pages on short texts (it picked
# cp775 or cp1250 for plain French or German here). cp1252, the Windows Western page and a
# superset of latin-1's printable range, is by far the commonest legacy encoding of office
# text, so it is tried first and kept when the result looks like Western European writing:
# only common accented letters and typographic signs, and few of them (text in another script
# read as cp1252 turns almost every letter into an accented one).
_WESTERN = set("àáâãäåæçèéêëìíîïñòóôõöøùúûüýÿœšžßÀÁÂÃÄÅÆÇÈÉÊËÌÍÎÏÑÒÓÔÕÖØÙÚÛÜÝŒŠŽŸ")
_WESTERN |= set("€£¥©®°±²³µ·¹º»«¿¡§¶½¼¾×÷–—‘’‚“”„†‡•…‰‹›™ ¢¤¦¨ª¬¯´¸")
_MAX_ACCENTED = 0.3
_IN_WORD = set("’‘·–—\u00a0")
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f]")  # control characters text files do not hold


def _utf16_without_bom(data: bytes) -> str | None:
    """'utf-16-le'/'utf-16-be' if the zero bytes sit on one side of each code unit."""
    sample = data[:4096]
    if len(sample) < 4 or len(data) % 2:
        return None
    even, odd = sample[0::2].count(0), sample[1::2].count(0)
    half = len(sample) // 2
    if odd > 0.3 * half and even < 0.05 * half:
        return "utf-16-le"
    if even > 0.3 * half and odd < 0.05 * half:
        return "utf-16-be"
    return None


def _control_ratio(text: str) -> float:
    sample = text[:20000]
    return len(_CONTROL.findall(sample)) / len(sample) if sample else 0.0


def decode_text(data: bytes, path: str) -> tuple[str, str]:
    """The text of ``data`` and the encoding used; IngestError for binary or undecodable data."""
    for bom, name in _BOMS:
        if data.startswith(bom):
            try:
                return _checked(data.decode(name), path), name.replace("-sig", "")
            except UnicodeDecodeError as exc:
                raise IngestError(
                    path, f"bad encoding: byte-order mark says {name}: {exc}"
                ) from exc
    try:
        return _checked(data.decode("utf-8"), path), "utf-8"
    except UnicodeDecodeError:
        pass
    if b"\x00" in data[:8192]:
        utf16 = _utf16_without_bom(data)
        if utf16:
            try:
                return _checked(data.decode(utf16), path), utf16
            except UnicodeDecodeError:
                pass
        raise IngestError(path, "binary data: zero bytes in a file with a text extension")
    return _guess(data, path)


def _western(data: bytes) -> str | None:
    """The cp1252 reading of ``data`` if it looks like Western European text, else None."""
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError:
        return None
    letters = accented = 0
    last = len(text) - 1
    for i, ch in enumerate(text):
        if ch.isascii():
            letters += ch.isalpha()
        elif ch not in _WESTERN:
            return None
        elif ch.isalpha():
            letters += 1
            accented += 1
        elif (
            ch not in _IN_WORD and 0 < i < last and text[i - 1].isalpha() and text[i + 1].isalpha()
        ):
            return None  # a sign inside a word: another code page's letter (Polish ł, ż)
    return text if letters and accented / letters <= _MAX_ACCENTED else None


def _guess(data: bytes, path: str) -> tuple[str, str]:
    text = _western(data)
    if text is not None:
        return _checked(text, path), "cp1252"
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is None:
        raise IngestError(path, "undecodable text: not UTF-8 and no known encoding fits")
    return _checked(str(best), path), best.encoding.replace("_", "-")


def _checked(text: str, path: str) -> str:
    if _control_ratio(text) > 0.01:
        raise IngestError(path, "binary data: control characters in a file with a text extension")
    return text


class TextReader(Reader):
    """Plain text: decoded, newlines normalised; the first short line is the title."""

    name = "txt"
    extensions = (".txt",)

    def read(self, data: bytes, path: str, limits: ZipLimits = ZipLimits()) -> Parsed:
        text, encoding = decode_text(data, path)
        text = tidy(text)
        first = next((line.strip() for line in text.split("\n") if line.strip()), "")
        title = first.lstrip("# ").strip() if 0 < len(first) <= 120 else None
        return Parsed(text=text, title=title, encoding=encoding)


READER = TextReader()
