"""Each reader on real files: structure, titles, metadata and what must be dropped."""

from __future__ import annotations

from generator.ingest.base import build_document, reader_for, scan_headings
from generator.ingest.markdown import setext_to_atx, split_front_matter
from tests.ingest.conftest import PARAGRAPH, docx_bytes, pdf_bytes


def read(name: str, data: bytes):
    reader = reader_for(name)
    assert reader is not None
    return build_document(
        reader.read(data, name), path=name, sha256="0", size=len(data), type_name=reader.name
    )


def test_registry_by_extension():
    assert {reader_for(n).name for n in ("a.md", "b.MARKDOWN", "c.htm", "d.HTML")} == {"md", "html"}
    assert reader_for("x.txt").name == "txt" and reader_for("x.pdf").name == "pdf"
    assert reader_for("x.docx").name == "docx"
    assert reader_for("x.doc") is None and reader_for("Makefile") is None


def test_markdown_front_matter_and_setext_headings():
    src = (
        "---\ntitle: Leave Policy\nupdated: 2026-03-02\nowner: People\n---\n"
        "Overview\n========\n\nSome text.\n\nDetails\n-------\n\n```\n# not a heading\n```\n"
    )
    d = read("leave.md", src.encode())
    assert d.title == "Leave Policy"
    assert d.metadata == {"title": "Leave Policy", "updated": "2026-03-02", "owner": "People"}
    assert [(h.level, h.text) for h in d.headings] == [(1, "Overview"), (2, "Details")]
    assert d.text.startswith("# Overview\n\nSome text.")
    assert all(d.text[h.offset :].startswith("#") for h in d.headings)


def test_markdown_bad_front_matter_keeps_the_document():
    meta, body, problem = split_front_matter("---\ntitle: [unclosed\n---\n# Hi\n")
    assert meta == {} and body.startswith("---") and problem.startswith("front matter")
    d = read("x.md", b"---\ntitle: [unclosed\n---\n# Hi\n\ntext\n")
    assert "front_matter_problem" in d.metadata and d.title == "Hi"


def test_setext_does_not_touch_lists_tables_or_breaks():
    src = "- item\n---\n\n| a |\n|---|\n\ntext\n\n---\n"
    assert setext_to_atx(src) == src


def test_html_main_text_without_boilerplate():
    page = f"""<!doctype html><html lang="de"><head><title>Site | Policy</title>
    <meta name="author" content="IT"><meta property="article:modified_time" content="2026-01-19">
    <style>p{{color:red}}</style><script>var tracking = 1;</script></head><body>
    <div id="cookie-consent">We use cookies. Accept all</div>
    <header class="site-header"><a href="/">Home</a></header>
    <nav><ul><li>People</li><li>IT</li></ul></nav>
    <div class="breadcrumbs">Home / IT</div>
    <main><article><header><h1>Security Policy</h1></header>
      <h2>Passwords</h2><p>{PARAGRAPH}</p>
      <p>Line one<br>line two</p>
      <ul><li>First rule</li><li>Second rule</li></ul>
      <table><tr><th>Class</th><th>Rule</th></tr><tr><td>SECRET</td><td>Vault only</td></tr></table>
      <pre>ssh-keygen -t ed25519
  --comment x</pre>
      <form><input value="search"></form><div hidden>hidden text</div>
      <div style="display: none">invisible</div>
    </article></main>
    <aside>Related pages</aside><footer>Imprint</footer></body></html>"""
    d = read("p.html", page.encode())
    for gone in (
        "cookies",
        "tracking",
        "Home",
        "People",
        "Related",
        "Imprint",
        "search",
        "hidden text",
        "invisible",
        "color:red",
    ):
        assert gone not in d.text, gone
    assert d.title == "Security Policy"
    assert [(h.level, h.text) for h in d.headings] == [(1, "Security Policy"), (2, "Passwords")]
    assert PARAGRAPH in d.text
    assert "Line one\nline two" in d.text
    assert "- First rule\n- Second rule" in d.text
    assert "| Class | Rule |\n| --- | --- |\n| SECRET | Vault only |" in d.text
    assert "```\nssh-keygen -t ed25519\n  --comment x\n```" in d.text
    assert d.metadata == {"language": "de", "author": "IT", "modified": "2026-01-19"}


def test_html_declared_charset_and_xml_declaration():
    page = '<?xml version="1.0" encoding="iso-8859-1"?><html><head><meta charset="iso-8859-1">'
    page += "</head><body><p>Grüße aus Köln, schöne Straße.</p></body></html>"
    d = read("p.htm", page.encode("iso-8859-1"))
    assert "Grüße aus Köln, schöne Straße." in d.text and d.encoding == "iso-8859-1"


def test_pdf_pages_bookmarks_and_dates():
    data = pdf_bytes(["First page text about batteries.", "Second page text about probes."])
    d = read("m.pdf", data)
    assert d.title == "Test manual"
    assert [p for p, _ in d.pages] == [1, 2]
    second = d.pages[1][1]
    assert d.text[second:].startswith("# Section 2") and "probes" in d.text[second:]
    assert "batteries" in d.text[:second]
    assert [h.text for h in d.headings] == ["Section 1", "Section 2"]
    assert d.metadata["created"].startswith("20") and d.metadata["page_count"] == 2


def test_docx_headings_lists_tables_and_properties():
    d = read("r.docx", docx_bytes())
    assert d.title == "Leave rules"
    assert [(h.level, h.text) for h in d.headings] == [(1, "Leave rules"), (2, "Limits")]
    assert PARAGRAPH in d.text
    assert "- First bullet\n- Second bullet" in d.text
    assert "| City | Limit |\n| --- | --- |\n| Munich | EUR 200 |" in d.text
    assert d.metadata["created"].startswith("20")


def test_txt_title_and_heading_scan():
    d = read("notes.txt", b"Support notes\r\n\r\n\r\n\r\nLine   \r\n# Section\r\nbody\r\n")
    assert d.title == "Support notes"
    assert d.text == "Support notes\n\nLine\n# Section\nbody"
    assert [h.text for h in scan_headings(d.text)] == ["Section"]
