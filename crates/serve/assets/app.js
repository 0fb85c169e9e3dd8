// dorafleet dashboard: the one script. Pages work without it; it adds the
// records behind a chart's point and posts the operator forms to the API.
"use strict";
(function () {
  const api = "/api/v1";

  // Every record a records answer holds, each with its kind: an array, an
  // object's `records`, or every array field (deployments, changes, incidents).
  function flattenRecords(json) {
    if (Array.isArray(json)) return json.map((r) => ({ kind: r.kind || "record", record: r }));
    if (json && Array.isArray(json.records)) return json.records.map((r) => ({ kind: r.kind || "record", record: r }));
    const out = [];
    for (const [key, value] of Object.entries(json || {})) {
      if (Array.isArray(value)) for (const r of value) out.push({ kind: r.kind || key.replace(/s$/, ""), record: r });
    }
    return out;
  }

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) if (v != null) e.setAttribute(k, v);
    for (const c of children) if (c != null) e.append(c);
    return e;
  }

  function label(r) {
    if (r.repo && r.number != null) return r.repo + "#" + r.number + (r.title ? " " + r.title : "");
    return r.key || r.title || r.sha || r.id || "record";
  }

  // Where a record comes from: its source, the run that normalized it, and
  // the gold value's definition version.
  function provenance(r, gold) {
    const parts = [];
    if (r.source) parts.push(r.source);
    if (r.run_id) parts.push("normalized by run " + String(r.run_id).slice(0, 8));
    if (gold && gold.definition_version != null) parts.push("definitions v" + gold.definition_version);
    for (const k of ["lead_time_hours", "recovery_hours", "restore_hours"]) if (r[k] != null) parts.push(k.replace(/_/g, " ") + " " + Number(r[k]).toFixed(1));
    if (r.dropped) parts.push("dropped: " + r.dropped);
    return parts.join(" · ");
  }

  async function showRecords(point) {
    const svg = point.closest("svg");
    const team = svg.dataset.team, metric = point.dataset.metric, date = point.dataset.date;
    const list = document.getElementById("records"), title = document.getElementById("records-title");
    document.querySelectorAll(".point.selected").forEach((p) => p.classList.remove("selected"));
    point.classList.add("selected");
    list.replaceChildren();
    list.dataset.state = "loading";
    title.textContent = "Loading the records behind " + metric.replace(/_/g, " ") + " on " + date + " …";
    const url = `${api}/teams/${encodeURIComponent(team)}/days/${date}/metrics/${metric}/records`;
    try {
      const res = await fetch(url, { headers: { Accept: "application/json" } });
      const json = await res.json().catch(() => ({}));
      if (!res.ok) throw new Error(json.detail || json.title || res.status + " " + res.statusText);
      const records = flattenRecords(json);
      for (const { kind, record } of records) {
        const name = record.url ? el("a", { href: record.url, target: "_blank", rel: "noopener" }, label(record)) : label(record);
        list.append(el("li", { class: "record", "data-kind": kind, "data-url": record.url }, kind + " ", name, el("small", {}, provenance(record, json.gold))));
      }
      title.textContent = `${records.length} record${records.length === 1 ? "" : "s"} behind ${metric.replace(/_/g, " ")} on ${date} (value ${point.dataset.value})`;
      list.dataset.state = "loaded";
    } catch (e) {
      title.textContent = "Could not load the records: " + e.message;
      list.dataset.state = "error";
    }
  }

  document.addEventListener("click", (ev) => {
    const point = ev.target.closest && ev.target.closest("circle.point");
    if (point && point.closest("svg.chart")) showRecords(point);
  });
  document.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && ev.target.matches && ev.target.matches("circle.point")) showRecords(ev.target);
  });

  // Post a form's fields (but the token) as JSON, the token as a bearer token.
  async function post(form, body) {
    const out = form.querySelector("output.result");
    const token = form.elements.token.value.trim();
    const headers = { "Content-Type": "application/json", Accept: "application/json" };
    if (token) headers.Authorization = "Bearer " + token;
    out.className = "result";
    out.textContent = "…";
    delete out.dataset.status;
    try {
      const res = await fetch(form.getAttribute("action"), { method: "POST", headers, body: JSON.stringify(body) });
      const json = await res.json().catch(() => ({}));
      out.dataset.status = res.status;
      if (!res.ok) {
        out.className = "result error";
        out.textContent = `refused (${res.status}): ${json.detail || json.title || res.statusText}`;
        return null;
      }
      out.className = "result ok";
      return json;
    } catch (e) {
      out.className = "result error";
      out.textContent = "failed: " + e.message;
      return null;
    }
  }

  document.addEventListener("submit", async (ev) => {
    const form = ev.target;
    if (form.matches("form.release")) {
      ev.preventDefault();
      const done = await post(form, { reason: form.elements.reason.value });
      if (done) {
        form.querySelector("output.result").textContent = "released";
        form.closest(".hold").dataset.status = "released";
        form.querySelector("button").disabled = true;
      }
    } else if (form.matches("form.replay")) {
      ev.preventDefault();
      const body = {};
      for (const name of ["source", "error_class", "team"]) {
        const v = form.elements[name].value.trim();
        if (v) body[name] = v;
      }
      if (form.elements.dry_run.checked) body.dry_run = true;
      const done = await post(form, body);
      if (done) {
        const n = (done.replayed || []).length, planned = (done.planned || []).length;
        form.querySelector("output.result").textContent = done.dry_run
          ? `dry run: ${planned} of ${done.selected} selected letters would be replayed`
          : `${n} replayed of ${done.selected} selected` + ((done.skipped || []).length ? `, ${done.skipped.length} skipped` : "");
      }
    }
  });

  // Queue depths, when the API can read them from RabbitMQ.
  const queue = document.getElementById("queue-depth");
  if (queue) {
    fetch(api + "/fleet", { headers: { Accept: "application/json" } })
      .then((res) => (res.ok ? res.json() : Promise.reject(new Error(res.status + " " + res.statusText))))
      .then((json) => {
        const b = json.broker || {};
        if (!b.reachable) throw new Error(b.error || "RabbitMQ not reachable");
        for (const q of b.queues || []) queue.append(el("dt", {}, q.queue), el("dd", { "data-queue": q.queue }, String(q.depth)));
      })
      .catch((e) => queue.append(el("dd", { class: "note" }, "queue depth not available: " + e.message)));
  }

  window.dorafleet = { flattenRecords };
})();
