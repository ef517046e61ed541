// htcmesos dashboard: polls /api/v1 every data-refresh-ms and redraws the page.
// Text goes in with textContent only (never as HTML): nothing from the pool is markup.
"use strict";

(function () {
  const SVG = "http://www.w3.org/2000/svg";
  const body = document.body;
  const refreshMs = Math.max(250, parseInt(body.dataset.refreshMs, 10) || 2000);
  // a request without an answer by then is given up (a framework that hangs or a host
  // that went away without a word would otherwise stop the refreshes for minutes)
  const timeoutMs = Math.max(250, parseInt(body.dataset.timeoutMs, 10) || 10000);
  let lastOk = null;    // when the page last showed the pool (epoch s)
  const FIELDS = [
    ["executors.wanted", "Executors wanted"], ["executors.starting", "Executors starting"],
    ["executors.running", "Executors running"], ["executors.idle", "… of them idle"],
    ["executors.draining", "… of them draining"], ["jobs.idle", "Jobs idle"],
    ["jobs.running", "Jobs running"], ["bounds.min", "Min executors"],
    ["bounds.max", "Max executors"], ["desired", "Desired size"],
  ];
  const SERIES = [
    ["demand", "jobs idle + running", (p) => p.jobs_idle + p.jobs_running],
    ["jobs-running", "jobs running", (p) => p.jobs_running],
    ["wanted", "executors wanted", (p) => p.wanted],
    ["running", "executors running", (p) => p.running],
  ];

  function $(id) { return document.getElementById(id); }

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function svg(tag, attrs, text) {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    if (text !== undefined) node.textContent = String(text);
    return node;
  }

  function pad(n) { return String(n).padStart(2, "0"); }

  function clock(epoch) {
    const d = new Date(epoch * 1000);
    return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  }

  function get(obj, path) {
    return path.split(".").reduce((o, k) => (o == null ? o : o[k]), obj);
  }

  function replaceRows(table, rows) {
    const tbody = table.tBodies[0];
    tbody.replaceChildren(...rows);
  }

  function safeLink(url) {
    return typeof url === "string" && /^https?:\/\//i.test(url) ? url : null;
  }

  // -- header ------------------------------------------------------------------------
  function drawHeader(status) {
    $("pool").textContent = status.pool;
    document.title = `htcmesos ${status.pool}`;
    $("backend").textContent = `backend: ${status.backend}`;
    const fresh = $("freshness");
    const age = `${Math.round(status.snapshot_age_s)} s old`;
    fresh.className = `badge ${status.fresh ? "fresh" : "stale"}`;
    fresh.textContent = status.fresh ? `fresh (${age})`
      : `stale (${age})${status.error ? ": " + status.error : ""}`;
    $("paused").hidden = !status.paused;
    const links = (status.links || []).map((l) => {
      const href = safeLink(l.url);
      if (!href) return null;
      return el("a", { href, target: "_blank", rel: "noopener noreferrer" }, l.name);
    }).filter(Boolean);
    $("links").replaceChildren(...links);
    const any = status.jobs_idle_any;
    $("any-jobs").textContent = any ? `${any} idle job(s) may run at any site` : "";
  }

  // -- sites -------------------------------------------------------------------------
  function siteCard(name) {
    const card = el("section", { class: "site", "data-site": name });
    const head = el("h3");
    head.append(el("span", { class: "site-name" }, name));
    card.append(head, el("div", { class: "site-badges" }));
    const table = el("table");
    const tbody = el("tbody");
    for (const [field, label] of FIELDS) {
      const row = el("tr");
      row.append(el("th", { scope: "row" }, label), el("td", { "data-field": field }, "–"));
      tbody.append(row);
    }
    table.append(tbody);
    card.append(table, el("p", { class: "site-note" }));
    return card;
  }

  function drawSites(sites) {
    const area = $("sites");
    const cards = new Map([...area.querySelectorAll("section.site")].map((c) => [c.dataset.site, c]));
    const order = [];
    for (const site of sites) {
      const card = cards.get(site.name) || siteCard(site.name);
      cards.delete(site.name);
      for (const [field] of FIELDS) {
        const value = get(site, field);
        const cell = card.querySelector(`td[data-field="${field}"]`);
        cell.textContent = field === "desired" && value === null ? "queue" : String(value);
      }
      const badges = [];
      if (site.private) badges.push(el("span", { class: "badge small unknown" }, "private"));
      if (site.drained) badges.push(el("span", { class: "badge small stale" }, "drained"));
      if (site.held) badges.push(el("span", { class: "badge small paused" }, "held"));
      card.querySelector(".site-badges").replaceChildren(...badges);
      card.querySelector(".site-note").textContent = site.held ? `held: ${site.held}` : "";
      card.classList.toggle("drained", !!site.drained);
      card.classList.toggle("held", !!site.held);
      order.push(card);
    }
    for (const gone of cards.values()) gone.remove();
    area.replaceChildren(...order);
  }

  // -- plot --------------------------------------------------------------------------
  // the y axis' step: 1, 2 or 5 times a power of ten, four steps reaching v
  function niceStep(v) {
    const raw = Math.max(1, v / 4);
    const power = Math.pow(10, Math.floor(Math.log10(raw)));
    for (const m of [1, 2, 5, 10]) if (m * power >= raw) return m * power;
    return 10 * power;
  }

  function drawPlot(points) {
    const plot = $("plot");
    const W = 960, H = 280, L = 48, R = 170, T = 24, B = 30;
    const w = W - L - R, h = H - T - B;
    const parts = [];
    const step = niceStep(Math.max(1, ...points.flatMap((p) => SERIES.map(([, , f]) => f(p)))));
    const top = 4 * step;
    for (let i = 0; i <= 4; i++) {
      const y = T + h - (h * i) / 4;
      parts.push(svg("line", { class: i ? "grid" : "axis", x1: L, x2: L + w, y1: y, y2: y }));
      parts.push(svg("text", { x: L - 6, y: y + 4, "text-anchor": "end" }, step * i));
    }
    parts.push(svg("line", { class: "axis", x1: L, x2: L, y1: T, y2: T + h }));
    parts.push(svg("text", { x: L - 6, y: T - 10, "text-anchor": "end" }, "count"));
    if (points.length) {
      const t0 = points[0].at, t1 = points[points.length - 1].at;
      const span = Math.max(1, t1 - t0);
      const x = (t) => L + ((t - t0) / span) * w;
      const y = (v) => T + h - (v / top) * h;
      const ticks = Math.min(5, points.length);
      for (let i = 0; i < ticks; i++) {
        const t = ticks === 1 ? t0 : t0 + (span * i) / (ticks - 1);
        parts.push(svg("text", { x: x(t), y: H - 8, "text-anchor": "middle" }, clock(t)));
      }
      for (const [cls, , f] of SERIES) {
        const d = points.map((p, i) => `${i ? "L" : "M"}${x(p.at).toFixed(1)},${y(f(p)).toFixed(1)}`).join(" ");
        parts.push(svg("path", { class: `series ${cls}`, d }));
      }
    } else {
      parts.push(svg("text", { x: L + w / 2, y: T + h / 2, "text-anchor": "middle" }, "no data yet"));
    }
    const legend = svg("g", { class: "legend" });
    SERIES.forEach(([cls, label], i) => {
      const ly = T + 10 + i * 20;
      legend.append(svg("line", { class: `series swatch ${cls}`, x1: L + w + 14, x2: L + w + 38, y1: ly, y2: ly }));
      legend.append(svg("text", { x: L + w + 44, y: ly + 4 }, label));
    });
    parts.push(legend);
    plot.replaceChildren(...parts);
  }

  // -- tables ------------------------------------------------------------------------
  function drawDecisions(decisions) {
    replaceRows($("decisions"), decisions.map((d) => {
      const row = el("tr");
      row.append(el("td", {}, clock(d.at) + (d.fresh ? "" : " (stale)")));
      row.append(el("td", {}, d.actions.length ? d.actions.join(", ") : "—"));
      const list = el("ul");
      for (const r of d.reasons) {
        const item = el("li");
        item.append(el("code", {}, r.code), document.createTextNode(` ${r.site}: ${r.detail}`));
        list.append(item);
      }
      for (const e of d.errors || []) list.append(el("li", { class: "error" }, `error: ${e}`));
      const cell = el("td");
      cell.append(list);
      row.append(cell);
      return row;
    }));
  }

  function drawTasks(tasks, backend) {
    const ui = backend === "marathon" ? "Marathon" : "Mesos";
    replaceRows($("tasks"), tasks.map((t) => {
      const row = el("tr", { "data-task": t.id });
      const health = t.healthy === null || t.healthy === undefined ? "unknown"
        : (t.healthy ? "healthy" : "unhealthy");
      row.append(el("td", {}, t.id), el("td", {}, t.role), el("td", {}, t.site || "—"),
        el("td", {}, t.state), el("td", { class: health }, health), el("td", {}, t.ip || "—"));
      const cell = el("td");
      const href = safeLink(t.link);
      if (href) cell.append(el("a", { href, target: "_blank", rel: "noopener noreferrer" }, ui));
      row.append(cell);
      return row;
    }));
  }

  function drawOperator(actions) {
    replaceRows($("operator"), actions.map((a) => {
      const row = el("tr");
      row.append(el("td", {}, clock(a.at)), el("td", {}, a.who), el("td", {}, a.what));
      return row;
    }));
  }

  // -- polling -----------------------------------------------------------------------
  async function fetchJson(path) {
    const control = new AbortController();
    const timer = window.setTimeout(() => control.abort(), timeoutMs);
    try {
      const resp = await fetch(path, { cache: "no-store", signal: control.signal,
                                       headers: { Accept: "application/json" } });
      let doc = null;
      try { doc = await resp.json(); } catch (e) {
        if (control.signal.aborted) throw e;
        doc = null;
      }
      if (!resp.ok) {
        const why = doc && doc.error ? doc.error : `HTTP ${resp.status}`;
        throw new Error(`${path}: ${why}`);
      }
      if (doc === null || typeof doc !== "object") throw new Error(`${path}: not a JSON object`);
      return doc;
    } catch (err) {
      if (control.signal.aborted) throw new Error(`${path}: no answer in ${timeoutMs / 1000} s`);
      if (err instanceof TypeError) throw new Error(`${path}: no connection (${err.message})`);
      throw err;
    } finally {
      window.clearTimeout(timer);
    }
  }

  async function refresh() {
    try {
      // every answer awaited: the problem said is the first one's (status first)
      const answers = await Promise.allSettled([
        fetchJson("/api/v1/status"), fetchJson("/api/v1/history"),
        fetchJson("/api/v1/decisions"), fetchJson("/api/v1/tasks")]);
      const failed = answers.find((a) => a.status === "rejected");
      if (failed) throw failed.reason;
      const [status, history, decisions, tasks] = answers.map((a) => a.value);
      drawHeader(status);
      drawSites(status.sites);
      drawPlot(history.points);
      drawDecisions(decisions.decisions);
      drawTasks(tasks.tasks, status.backend);
      drawOperator(status.operator || []);
      $("problem").hidden = true;
      lastOk = Date.now() / 1000;
      $("updated").textContent = clock(lastOk);
      body.dataset.ticks = String((parseInt(body.dataset.ticks, 10) || 0) + 1);
    } catch (err) {
      const problem = $("problem");
      problem.textContent = `Not updated: ${err.message}`;
      problem.hidden = false;
      if (lastOk !== null) {       // what the page shows is no longer known to be current
        const fresh = $("freshness");
        fresh.className = "badge unknown";
        fresh.textContent = `not updated since ${clock(lastOk)}`;
      }
    } finally {
      window.setTimeout(refresh, refreshMs);
    }
  }

  drawPlot([]);
  refresh();
})();
