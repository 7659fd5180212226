// meshd web UI: the live parts of the server-rendered pages.
// Everything from the node is written with textContent, never as HTML.
"use strict";

(function () {
  const FINISHED = ["done", "failed", "cancelled"];

  function fmtBytes(n) {
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let v = n, u = 0;
    while (v >= 1024 && u < units.length - 1) { v /= 1024; u++; }
    return u === 0 ? n + " B" : v.toFixed(1) + " " + units[u];
  }

  function fmtSecs(s) {
    if (!isFinite(s) || s < 0) return "";
    if (s < 60) return Math.ceil(s) + " s left";
    return Math.floor(s / 60) + " min " + Math.ceil(s % 60) + " s left";
  }

  // A fetch's progress box: polled until the job ends, updated in place.
  function watchFetch(box) {
    const id = box.dataset.fetch;
    const bar = box.querySelector("progress");
    const bytes = box.querySelector(".bytes");
    const rate = box.querySelector(".rate");
    const eta = box.querySelector(".eta");
    const state = box.querySelector(".state");
    let updates = 0;
    async function poll() {
      let p;
      try {
        const r = await fetch("/ui/fetches/" + encodeURIComponent(id), { credentials: "same-origin" });
        if (!r.ok) { box.dataset.error = String(r.status); return; }
        p = await r.json();
      } catch (e) {
        setTimeout(poll, 1000);
        return;
      }
      const st = String(p.state).toLowerCase();
      bar.max = Math.max(1, p.bytes_total);
      bar.value = p.bytes_done;
      bytes.textContent = fmtBytes(p.bytes_done) + " of " + fmtBytes(p.bytes_total);
      rate.textContent = p.rate_bytes_per_s > 0 ? fmtBytes(p.rate_bytes_per_s) + "/s" : "—";
      eta.textContent = st === "fetching" && p.rate_bytes_per_s > 0
        ? fmtSecs((p.bytes_total - p.bytes_done) / p.rate_bytes_per_s) : "";
      state.textContent = st;
      updates++;
      box.dataset.updates = String(updates);
      if (p.error) {
        let e = box.querySelector(".error");
        if (!e) { e = document.createElement("p"); e.className = "error"; box.appendChild(e); }
        e.textContent = p.error;
      }
      if (FINISHED.includes(st)) {
        box.dataset.finished = st;
        return;
      }
      setTimeout(poll, 250);
    }
    poll();
  }

  // The product's providers, looked up in the DHT after the page loads.
  async function loadProviders(list) {
    const item = (text, cls) => {
      const li = document.createElement("li");
      li.textContent = text;
      if (cls) li.className = cls;
      return li;
    };
    try {
      const r = await fetch(list.dataset.url, { credentials: "same-origin" });
      const body = await r.json();
      list.replaceChildren();
      if (!r.ok) {
        list.appendChild(item(body.message || "lookup failed", "error"));
      } else if (body.providers.length === 0) {
        list.appendChild(item("No provider found in the DHT right now.", "muted"));
      } else {
        for (const p of body.providers) list.appendChild(item(p));
      }
    } catch (e) {
      list.replaceChildren(item("The lookup failed: " + e, "error"));
    }
    list.dataset.loaded = "true";
  }

  // The first rows, on request.
  async function showPreview(box, button) {
    button.disabled = true;
    button.textContent = "Reading…";
    const out = document.createElement("div");
    out.id = "preview-result";
    try {
      const r = await fetch(box.dataset.url, { credentials: "same-origin" });
      const body = await r.json();
      if (!r.ok) {
        const p = document.createElement("p");
        p.className = "error";
        p.textContent = body.error || body.message || "preview failed";
        out.appendChild(p);
      } else {
        const wrap = document.createElement("div");
        wrap.className = "scroll";
        const table = document.createElement("table");
        table.id = "preview-table";
        const head = table.createTHead().insertRow();
        for (const c of body.columns) {
          const th = document.createElement("th");
          th.scope = "col";
          th.textContent = c;
          head.appendChild(th);
        }
        const tbody = table.createTBody();
        for (const row of body.rows) {
          const tr = tbody.insertRow();
          for (const cell of row) {
            const td = tr.insertCell();
            if (cell === null) { td.className = "null"; td.textContent = "null"; }
            else td.textContent = cell;
          }
        }
        wrap.appendChild(table);
        out.appendChild(wrap);
        const note = document.createElement("p");
        note.className = "hint";
        note.textContent = "Version " + body.version + "; " + (body.held
          ? "read from the verified copy this node holds."
          : "read from " + body.chunks_held + " of " + body.chunks_total + " chunks, each verified.");
        out.appendChild(note);
      }
    } catch (e) {
      out.textContent = "The preview failed: " + e;
    }
    button.remove();
    box.appendChild(out);
  }

  // Publishing: the file's bytes go to the node first (streamed), then the
  // form is submitted with the upload's id and size.
  function setupPublish(form) {
    const file = document.getElementById("publish-file");
    const status = document.getElementById("publish-status");
    const formats = { csv: "csv", jsonl: "jsonl", ndjson: "jsonl", parquet: "parquet", arrow: "arrow", ipc: "arrow", json: "json", avro: "avro" };
    file.addEventListener("change", () => {
      const f = file.files[0];
      if (!f) return;
      const dot = f.name.lastIndexOf(".");
      const ext = dot >= 0 ? f.name.slice(dot + 1).toLowerCase() : "";
      if (formats[ext]) document.getElementById("format").value = formats[ext];
      const name = document.getElementById("name");
      if (!name.value) {
        name.value = (dot >= 0 ? f.name.slice(0, dot) : f.name).toLowerCase().replace(/[^a-z0-9_-]/g, "-").replace(/^[^a-z]+/, "");
      }
    });
    form.addEventListener("submit", async (event) => {
      if (document.getElementById("upload-id").value) return;
      event.preventDefault();
      const f = file.files[0];
      if (!f) return;
      const button = document.getElementById("publish-button");
      button.disabled = true;
      status.textContent = "Sending " + fmtBytes(f.size) + " to the node…";
      try {
        const r = await fetch("/ui/uploads", {
          method: "POST",
          credentials: "same-origin",
          headers: { "X-CSRF-Token": form.dataset.csrf, "Content-Type": "application/octet-stream" },
          body: f,
        });
        const body = await r.json();
        if (!r.ok) throw new Error(body.message || ("upload failed: " + r.status));
        document.getElementById("upload-id").value = body.upload_id;
        document.getElementById("upload-size").value = String(body.size);
        status.textContent = "Publishing…";
        form.submit();
      } catch (e) {
        status.textContent = String(e.message || e);
        status.className = "error";
        button.disabled = false;
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    const publishForm = document.getElementById("publish-form");
    if (publishForm) setupPublish(publishForm);
    document.querySelectorAll("[data-fetch]").forEach(watchFetch);
    const providers = document.getElementById("providers");
    if (providers && providers.dataset.url) loadProviders(providers);
    const preview = document.getElementById("preview");
    const button = document.getElementById("preview-button");
    if (preview && button) button.addEventListener("click", () => showPreview(preview, button));
  });
})();
