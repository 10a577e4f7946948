"""Uploads: the ingest stage's own per-file results, safe names only (no traversal, no zip
slip, no symlinks or devices from a zip), the size cap while streaming, and project scoping."""

from __future__ import annotations

import os
import stat
from dataclasses import asdict
from pathlib import Path

import pytest

from generator.ingest.pipeline import ingest_folder
from generator.ingest.settings import resolve
from generator.store import Journal
from tests.conftest import SAMPLES
from tests.service.conftest import MAX_UPLOAD_MB, Server, audit_count
from tests.service.helpers import DOC, error, files, zip_bytes

DOCX = SAMPLES / "handbook" / "travel-and-expenses-policy.docx"


def _upload(server: Server, pid: int, parts, role: str = "operator"):  # type: ignore[no-untyped-def]
    with server.client(role) as c:
        return c.post(f"/api/v1/projects/{pid}/documents", files=parts)


def _docs(server: Server, pid: int) -> dict[str, dict]:
    with server.client("reviewer") as c:
        return {d["path"]: d for d in c.get(f"/api/v1/projects/{pid}/documents").json()["items"]}


def _stored(server: Server, pid: int) -> set[str]:
    root = server.data / "projects" / str(pid) / "documents"
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def _no_escape(server: Server) -> None:
    """Nothing named evil anywhere under the data folder or its parent."""
    for base in (server.data, server.data.parent):
        hits = [p for p in base.glob("*evil*")] + [p for p in server.data.rglob("*evil*")]
        assert not hits, hits


def test_results_are_the_ingest_stages_own(server: Server, tmp_path: Path) -> None:
    pid = server.project()
    res = _upload(server, pid, files(("leave.md", DOC), ("travel.docx", DOCX.read_bytes()),
                                     ("empty.md", b"")))  # fmt: skip
    assert res.status_code == 200, res.text
    got = res.json()
    # the same files through the ingest stage directly
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "leave.md").write_bytes(DOC)
    (folder / "travel.docx").write_bytes(DOCX.read_bytes())
    (folder / "empty.md").write_bytes(b"")
    with Journal(tmp_path / "run") as journal:
        expected = {r.path: asdict(r) for r in ingest_folder(folder, journal, resolve(None, {})[0])}
    assert {f["path"]: f for f in got["files"]} == expected
    assert got["counts"] == {"ingested": 2, "error": 1}
    assert expected["empty.md"]["status"] == "error"
    assert _stored(server, pid) == {"leave.md", "travel.docx"}  # the bad file is not kept
    docs = _docs(server, pid)
    assert set(docs) == {"leave.md", "travel.docx"}
    assert docs["leave.md"]["chunks"] == expected["leave.md"]["chunks"] > 0
    assert docs["travel.docx"]["uploaded_by"] == "operator-1"
    assert len(docs["leave.md"]["sha256"]) == 64


def test_reupload_is_unchanged_then_updated(server: Server) -> None:
    pid = server.project()
    assert _upload(server, pid, files(("a.md", DOC))).json()["counts"] == {"ingested": 1}
    assert _upload(server, pid, files(("a.md", DOC))).json()["counts"] == {"unchanged": 1}
    changed = _upload(server, pid, files(("a.md", DOC + b"\nMore text about leave.\n")))
    assert changed.json()["counts"] == {"ingested": 1}
    bad = _upload(server, pid, files(("a.md", b"\x00\x01\x02" * 100)))
    assert bad.json()["files"][0]["status"] == "error"
    assert _docs(server, pid) == {} and _stored(server, pid) == set()


@pytest.mark.parametrize(
    "name",
    ["../evil.md", "../../evil.md", "/tmp/evil.md", "..\\..\\evil.md",
     "a/../../evil.md", "docs/..", "//evil.md"],
)  # fmt: skip
def test_traversal_names_are_refused(server: Server, name: str) -> None:
    pid = server.project()
    res = _upload(server, pid, files((name, DOC), ("fine.md", DOC)))
    assert res.status_code == 200, res.text
    bad, good = res.json()["files"]
    assert bad["status"] == "error" and bad["reason"].startswith("unsafe name:"), bad
    assert good["status"] == "ingested"
    assert _stored(server, pid) == {"fine.md"}
    _no_escape(server)


def test_hidden_and_unknown_files_are_not_stored(server: Server) -> None:
    pid = server.project()
    res = _upload(server, pid, files((".env.md", DOC), ("tool.exe", b"MZ" * 50),
                                     ("sub/.git/config.md", DOC), ("ok/x.txt", DOC)))  # fmt: skip
    statuses = [(f["path"], f["status"]) for f in res.json()["files"]]
    assert statuses == [(".env.md", "skipped"), ("tool.exe", "skipped"),
                        ("sub/.git/config.md", "skipped"), ("ok/x.txt", "ingested")]  # fmt: skip
    assert _stored(server, pid) == {"ok/x.txt"}


def test_zip_is_expanded_into_folders(server: Server) -> None:
    pid = server.project()
    archive = zip_bytes([("hb/leave.md", DOC), ("hb/travel.docx", DOCX.read_bytes()),
                         ("hb/notes.bin", b"\x00" * 10)])  # fmt: skip
    res = _upload(server, pid, files(("bundle.zip", archive)))
    by = {f["path"]: f["status"] for f in res.json()["files"]}
    assert by == {"hb/leave.md": "ingested", "hb/travel.docx": "ingested",
                  "hb/notes.bin": "skipped"}  # fmt: skip
    assert _stored(server, pid) == {"hb/leave.md", "hb/travel.docx"}


def test_zip_slip_symlinks_and_devices_are_refused(server: Server) -> None:
    pid = server.project()
    archive = zip_bytes(
        [("../../evil.md", DOC), ("/abs/evil.md", DOC), ("a/../../evil2.md", DOC),
         ("C:\\evil3.md", DOC), ("..\\evil4.md", DOC),
         ("link.md", b"/etc/passwd"), ("dev.md", b""), ("fifo.md", b""), ("good.md", DOC)],
        modes={"link.md": stat.S_IFLNK | 0o777, "dev.md": stat.S_IFCHR | 0o600,
               "fifo.md": stat.S_IFIFO | 0o600},
    )  # fmt: skip
    res = _upload(server, pid, files(("slip.zip", archive)))
    assert res.status_code == 200, res.text
    out = {f["path"]: f for f in res.json()["files"]}
    for name in (
        "../../evil.md",
        "/abs/evil.md",
        "a/../../evil2.md",
        "C:\\evil3.md",
        "..\\evil4.md",
    ):
        assert out[name]["status"] == "error" and "unsafe name" in out[name]["reason"]
    assert "symlink" in out["link.md"]["reason"]
    assert "not a regular file" in out["dev.md"]["reason"]
    assert "not a regular file" in out["fifo.md"]["reason"]
    assert out["good.md"]["status"] == "ingested"
    assert _stored(server, pid) == {"good.md"}
    root = server.data / "projects" / str(pid) / "documents"
    assert not any(p.is_symlink() for p in root.rglob("*"))
    _no_escape(server)


def test_corrupt_zip_and_duplicate_names(server: Server) -> None:
    pid = server.project()
    res = _upload(server, pid, files(("broken.zip", b"PK\x03\x04 not really"), ("d.md", DOC),
                                     ("d.md", DOC + b"again")))  # fmt: skip
    out = res.json()["files"]
    assert out[0]["status"] == "error" and "corrupt zip" in out[0]["reason"]
    assert out[1]["status"] == "ingested"
    assert out[2]["status"] == "error" and "twice" in out[2]["reason"]


def test_oversized_upload_is_413_and_stores_nothing(server: Server) -> None:
    pid = server.project()
    before = audit_count(server)
    big = b"word " * int(MAX_UPLOAD_MB * 1_000_000 / 5 + 1000)
    res = _upload(server, pid, files(("big.md", big)))
    assert res.status_code == 413, res.text
    assert error(res)["code"] == "too_large"
    assert _stored(server, pid) == set() and audit_count(server) == before


def test_oversized_chunked_upload_is_cut_off_while_streaming(server: Server) -> None:
    """No Content-Length: the body is counted as it arrives and refused past the cap."""
    pid = server.project()
    boundary = "bnd123"

    def body():  # type: ignore[no-untyped-def]
        yield (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; "
               f"filename=\"big.md\"\r\nContent-Type: text/markdown\r\n\r\n").encode()  # fmt: skip
        for _ in range(int(MAX_UPLOAD_MB * 20) + 5):
            yield b"word " * 10_000
        yield f"\r\n--{boundary}--\r\n".encode()

    with server.client("operator") as c:
        res = c.post(
            f"/api/v1/projects/{pid}/documents",
            content=body(),
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
    assert res.status_code == 413, res.text
    assert _stored(server, pid) == set()
    staging = server.data / "projects" / str(pid) / ".staging"
    assert not staging.exists() or not os.listdir(staging)


def test_bad_upload_requests(server: Server) -> None:
    pid = server.project()
    with server.client("operator") as c:
        url = f"/api/v1/projects/{pid}/documents"
        as_json = c.post(url, json={"files": ["a.md"]})
        no_files = c.post(url, files={"files": (None, b"")})  # a field, not a file
        extra = c.post(url, data={"note": "hi"}, files=files(("a.md", DOC)))
        plain = c.post(url, data={"files": "not a file"}, files={"other": ("a.md", DOC)})
        broken = c.post(url, content=b"--x\r\nbroken", headers={
            "Content-Type": "multipart/form-data; boundary=x"})  # fmt: skip
    assert as_json.status_code == 415
    assert no_files.status_code == 422
    assert extra.status_code == 422 and "note" in error(extra)["message"]
    assert plain.status_code == 422
    assert broken.status_code in (400, 422)
    error(broken)
    assert _stored(server, pid) == set()


def test_another_projects_ids_are_not_found(server: Server) -> None:
    mine, theirs = server.project(), server.project()
    _upload(server, theirs, files(("secret.md", DOC)))
    did = next(iter(_docs(server, theirs).values()))["id"]
    with server.client("reviewer") as c:
        assert c.get(f"/api/v1/projects/{theirs}/documents/{did}").status_code == 200
        res = c.get(f"/api/v1/projects/{mine}/documents/{did}")
        assert res.status_code == 404 and error(res)["code"] == "not_found"
        assert c.get(f"/api/v1/projects/{mine}/documents").json() == {"items": []}
        assert c.get(f"/api/v1/projects/999999/documents/{did}").status_code == 404


def test_concurrent_uploads_to_one_project_all_land(server: Server) -> None:
    """Uploads into one project take turns (the project lock): none loses another's files."""
    from concurrent.futures import ThreadPoolExecutor

    pid = server.project()
    names = [f"doc{i}.md" for i in range(6)]
    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(
            lambda n: _upload(server, pid, files((n, DOC + n.encode()))), names))  # fmt: skip
    assert all(a.status_code == 200 and a.json()["counts"] == {"ingested": 1} for a in answers)
    assert set(_docs(server, pid)) == set(names) == _stored(server, pid)
