// The little JavaScript the pages use (no build step, no inline script): drag-and-drop upload,
// live run progress (server-sent events) and the review keyboard shortcuts.
"use strict";

function upload(form) {
  const input = form.querySelector("input[type=file]");
  const status = document.getElementById("upload-status");
  const table = document.getElementById("upload-results");
  async function send(files) {
    if (!files.length) { status.textContent = "Choose or drop files first."; return; }
    const body = new FormData();
    for (const f of files) body.append("files", f, f.name);
    status.textContent = "Uploading " + files.length + " file(s)…";
    const res = await fetch(form.action, { method: "POST", body,
      headers: { "X-CSRF-Token": form.dataset.csrf, "Accept": "application/json" },
      credentials: "same-origin" });
    const data = await res.json().catch(() => ({}));
    if (!res.ok) { status.textContent = "Upload failed: " + ((data.error || {}).message || res.status); return; }
    const tbody = table.querySelector("tbody");
    tbody.replaceChildren();
    for (const f of data.files) {
      const tr = document.createElement("tr");
      for (const v of [f.path, f.status, String(f.chunks), f.reason || ""]) {
        const td = document.createElement("td"); td.textContent = v; tr.appendChild(td);
      }
      tbody.appendChild(tr);
    }
    table.hidden = false;
    const counts = Object.entries(data.counts).map(([k, v]) => v + " " + k).join(", ");
    status.textContent = "Upload done: " + counts + ". Reload the page to see the document list.";
  }
  form.addEventListener("submit", (e) => { e.preventDefault(); send(input.files); });
  form.addEventListener("dragover", (e) => { e.preventDefault(); form.classList.add("over"); });
  form.addEventListener("dragleave", () => form.classList.remove("over"));
  form.addEventListener("drop", (e) => {
    e.preventDefault(); form.classList.remove("over"); send(e.dataTransfer.files);
  });
}

function progress(section) {
  const url = section.dataset.events;
  if (!url || !window.EventSource) return;
  const source = new EventSource(url);
  const set = (id, v) => { const el = document.getElementById(id); if (el) el.textContent = v; };
  source.addEventListener("progress", (e) => {
    const run = JSON.parse(e.data);
    set("run-status", run.status);
    set("run-records", run.counts.records || 0);
    set("run-rejected", run.counts.rejected || 0);
    set("run-calls", run.counts.calls || 0);
    set("run-cost", Number(run.cost).toFixed(4));
    if (["done", "failed", "cancelled", "stopped"].includes(run.status)) {
      source.close();
      document.getElementById("run-final").hidden = false;
    }
  });
}

function reviewKeys() {
  const go = (id) => { const a = document.getElementById(id); if (a) a.click(); };
  document.addEventListener("keydown", (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const t = e.target;
    if (t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT")) {
      if (e.key === "Escape") t.blur();
      return;
    }
    const acts = {
      a: () => { const f = document.getElementById("f-accept"); if (f) f.requestSubmit(); },
      r: () => { const i = document.getElementById("reject-reason"); if (i) i.focus(); },
      e: () => {
        const d = document.getElementById("edit");
        if (d) { d.open = true; const x = d.querySelector("textarea"); if (x) x.focus(); }
      },
      s: () => go("k-skip"), j: () => go("k-next"), k: () => go("k-prev"),
    };
    if (acts[e.key]) { e.preventDefault(); acts[e.key](); }
  });
}

document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("upload");
  if (form) upload(form);
  const section = document.getElementById("progress");
  if (section) progress(section);
  if (document.getElementById("review")) {
    reviewKeys();
    // bring the first grounded word of the source chunk into its scrolled box
    const box = document.querySelector(".source");
    const hit = box && box.querySelector("mark");
    if (hit) box.scrollTop = Math.max(0, hit.offsetTop - box.offsetTop - 40);
  }
});
