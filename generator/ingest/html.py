"""HTML (``.html``, ``.htm``): the main text of a page, boilerplate removed.

The page is parsed with lxml; navigation, site header and footer, asides, scripts, styles,
forms, hidden elements and cookie/consent banners are dropped; the main content (``<main>``,
``role=main``, a single ``<article>``, else ``<body>``) is written out as markdown-ish text:
headings as ``#`` lines, list items as ``- `` lines, tables as ``| a | b |`` rows and
``<pre>`` blocks fenced. Dates and author from ``<meta>`` tags go into metadata. A page
nested deeper than libxml2 builds (it would silently drop the rest of the page) is
flattened first (:mod:`generator.ingest.html_deep`), so no text is lost.
"""

from __future__ import annotations

import re
import warnings

import lxml.html
from lxml import etree

from generator.errors import IngestError
from generator.ingest.archive import ZipLimits
from generator.ingest.base import Parsed, Reader, tidy
from generator.ingest.html_deep import MAX_DEPTH, flatten
from generator.ingest.text import decode_text

_DROP_TAGS = [
    "script",
    "style",
    "noscript",
    "template",
    "nav",
    "aside",
    "form",
    "iframe",
    "svg",
    "button",
    "select",
    "textarea",
    "input",
    "dialog",
    "object",
    "embed",
    "canvas",
    "link",
    "meta",
]
_DROP_ROLES = {"navigation", "banner", "contentinfo", "complementary", "search", "dialog"}
# Class/id words that mark boilerplate; matched as whole words of the attribute.
_BOILER = re.compile(
    r"(?:^|[\s_-])(cookies?|consent|gdpr|breadcrumbs?|sidebar|skip-?link|share|sharing|social|"
    r"newsletter|popup|modal|advert|ads|navbar|nav|menu|masthead|site-header|site-footer)"
    r"(?:$|[\s_-])",
    re.IGNORECASE,
)
_KEEP_ALWAYS = {"html", "body", "main", "article"}
_BLOCKS = set(
    [
        "p",
        "div",
        "section",
        "article",
        "main",
        "header",
        "footer",
        "ul",
        "ol",
        "dl",
        "dt",
        "dd",
        "blockquote",
        "figure",
        "figcaption",
        "address",
        "details",
        "summary",
        "hr",
        "table",
        "thead",
        "tbody",
        "tfoot",
        "caption",
        "center",
    ]
)
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_META_KEYS = {
    "author": "author",
    "description": "description",
    "date": "date",
    "dcterms.created": "created",
    "dcterms.modified": "modified",
    "article:published_time": "created",
    "article:modified_time": "modified",
    "last-modified": "modified",
}
_XML_DECL = re.compile(r"\A\s*<\?xml[^>]*\?>")
_CHARSET = re.compile(rb"<meta[^>]+charset=[\"']?([A-Za-z0-9_-]+)", re.IGNORECASE)


def _decode(data: bytes, path: str) -> tuple[str, str]:
    """UTF-8 first; then the page's declared charset; then the shared detection."""
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        pass
    m = _CHARSET.search(data[:4096])
    if m:
        try:
            return data.decode(m.group(1).decode("ascii")), m.group(1).decode("ascii").lower()
        except (LookupError, UnicodeDecodeError):
            pass
    return decode_text(data, path)


def _is_boilerplate(el: etree._Element) -> bool:
    tag = el.tag if isinstance(el.tag, str) else ""
    if tag in _KEEP_ALWAYS:
        return False
    if tag in _DROP_TAGS:
        return True
    if tag in ("header", "footer"):
        # An article's own header holds its title: keep headers inside main content.
        return not any(a.tag in ("article", "main") for a in el.iterancestors())
    get = el.get
    if (get("role") or "").lower() in _DROP_ROLES or get("hidden") is not None:
        return True
    if (get("aria-hidden") or "").lower() == "true":
        return True
    if "display:none" in (get("style") or "").replace(" ", "").lower():
        return True
    return bool(_BOILER.search(f"{get('class') or ''} {get('id') or ''}"))


_MARKED = etree.XPath(
    "//*[@role or @hidden or @aria-hidden or @style or @class or @id] | //header | //footer"
)


def _candidates(root: etree._Element) -> list[etree._Element]:
    """Elements that may be boilerplate, found in C (lxml) rather than by visiting all."""
    return [*root.iter(*_DROP_TAGS), *_MARKED(root)]


def _main(root: etree._Element) -> etree._Element:
    for xp in ("//main", "//*[@role='main']"):
        found = root.xpath(xp)
        if found:
            return found[0]
    articles = root.xpath("//article")
    if len(articles) == 1:
        return articles[0]
    body = root.find("body")
    return body if body is not None else root


class _Writer:
    """Collects blocks of text while walking the element tree."""

    def __init__(self) -> None:
        self.blocks: list[str] = []
        self.inline: list[str] = []
        self.row: list[str] | None = None
        self.rows: list[list[str]] = []
        self.list_open = False  # the last block written is a list item

    def flush(self, prefix: str = "") -> None:
        if not self.inline:
            return
        text = "".join(self.inline)
        self.inline = []
        if "\n" in text:  # <br> breaks survive; other whitespace collapses
            text = "\n".join(filter(None, (" ".join(part.split()) for part in text.split("\n"))))
        else:
            text = " ".join(text.split())
        if text:
            if self.row is not None:
                self.row.append(text.replace("\n", " ").replace("|", "\\|"))
            elif prefix and self.blocks and self.blocks[-1].startswith(prefix) and self.list_open:
                self.blocks[-1] += "\n" + prefix + text  # consecutive list items, one block
            else:
                self.blocks.append(prefix + text)
            self.list_open = bool(prefix)

    def table_end(self) -> None:
        rows = [r for r in self.rows if any(c.strip() for c in r)]
        self.rows = []
        if not rows:
            return
        width = max(len(r) for r in rows)
        lines = ["| " + " | ".join(r + [""] * (width - len(r))) + " |" for r in rows]
        lines.insert(1, "|" + " --- |" * width)
        self.blocks.append("\n".join(lines))


def html_to_text(root: etree._Element) -> str:
    """The markdown-ish text of an element (iterative: deep nesting cannot overflow)."""
    w = _Writer()
    walker = etree.iterwalk(root, events=("start", "end"))
    for event, el in walker:
        tag = el.tag if isinstance(el.tag, str) else ""
        if event == "start":
            if tag == "pre":
                w.flush()
                code = (el.text_content() or "").strip("\n")
                if code.strip():
                    w.blocks.append(f"```\n{code}\n```")
                walker.skip_subtree()
                if el.tail:
                    w.inline.append(el.tail.replace("\n", " "))
                continue
            if tag in _BLOCKS or tag in _HEADINGS or tag == "li":
                w.flush()
            elif tag == "tr":
                w.flush()
                w.row = []
            elif tag in ("td", "th"):
                w.flush()
            elif tag == "br":
                w.inline.append("\n")
            if el.text:
                w.inline.append(el.text.replace("\n", " "))
            continue
        # end event
        if tag in _HEADINGS:
            text = " ".join("".join(w.inline).split())
            w.inline = []
            if text:
                w.blocks.append("#" * _HEADINGS[tag] + " " + text)
        elif tag == "li":
            w.flush("- ")
        elif tag in ("td", "th"):
            if w.row is not None:
                before = len(w.row)
                w.flush()
                if len(w.row) == before:
                    w.row.append("")
        elif tag == "tr":
            if w.row is not None:
                w.rows.append(w.row)
            w.row = None
        elif tag == "table":
            w.flush()
            w.table_end()
        elif tag in _BLOCKS:
            w.flush()
        if el.tail and el is not root:
            w.inline.append(el.tail.replace("\n", " "))
    w.flush()
    return "\n\n".join(w.blocks)


def _parse(text: str, path: str) -> tuple[etree._Element, bool]:
    """The page's tree, and whether the parser stopped at its depth limit (it then drops
    everything after the deep block and reports it only in its error log)."""
    parser = lxml.html.HTMLParser(huge_tree=True)  # no 10 MB cap on one text node either
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            root = lxml.html.document_fromstring(text, parser=parser)
        except (etree.ParserError, ValueError) as exc:
            if not text.strip() or "empty" in str(exc).lower():
                raise IngestError(path, "no text: the page is empty") from exc
            raise IngestError(path, f"corrupt HTML: {exc}") from exc
    return root, any("Excessive depth" in e.message for e in parser.error_log)


class HtmlReader(Reader):
    """Main text of a web page, without navigation and boilerplate."""

    name = "html"
    extensions = (".html", ".htm")

    def read(self, data: bytes, path: str, limits: ZipLimits = ZipLimits()) -> Parsed:
        text, encoding = _decode(data, path)
        text = _XML_DECL.sub("", text)
        root, too_deep = _parse(text, path)
        meta: dict[str, str] = {}
        if too_deep:  # the parser would drop all that follows the deep block
            root, too_deep = _parse(flatten(text), path)
            if too_deep:
                raise IngestError(path, "HTML nested too deep to read without losing text")
            meta["html_flattened"] = f"elements deeper than {MAX_DEPTH} levels left out"
        lang = root.get("lang")
        if lang:
            meta["language"] = lang
        for el in root.iter("meta"):
            key = (el.get("name") or el.get("property") or el.get("http-equiv") or "").lower()
            if key in _META_KEYS and el.get("content"):
                meta.setdefault(_META_KEYS[key], el.get("content", "").strip())
        title_el = root.find(".//title")
        page_title = " ".join((title_el.text_content() if title_el is not None else "").split())
        etree.strip_elements(root, etree.Comment, etree.ProcessingInstruction, with_tail=False)
        for el in [e for e in _candidates(root) if _is_boilerplate(e)]:
            if el.getparent() is not None:
                el.drop_tree()
        main = _main(root)
        body = tidy(html_to_text(main))
        h1 = next((ln[2:] for ln in body.split("\n") if ln.startswith("# ")), None)
        return Parsed(text=body, title=h1 or page_title or None, encoding=encoding, metadata=meta)


READER = HtmlReader()
