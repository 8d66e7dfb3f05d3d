/* Blueplane dashboard core: number formatting, colours, charts with their tables, pickers, live updates.
 * A page script calls BP.page(render): render(figures) draws the page from its figures, first from the
 * JSON the server embedded, then again from each /ws/metrics push. No framework, no build step. */
(function () {
  "use strict";
  const BP = (window.BP = {});

  // --- numbers for people -------------------------------------------------------------------------
  const fmt = (BP.fmt = {
    int(n) { return n == null ? "—" : Number(n).toLocaleString("en-US"); },
    tokens(n) {
      if (n == null) return "—";
      const a = Math.abs(n);
      if (a >= 1e9) return (n / 1e9).toFixed(a >= 1e10 ? 1 : 2) + "B";
      if (a >= 1e6) return (n / 1e6).toFixed(a >= 1e7 ? 1 : 2) + "M";
      if (a >= 1e3) return (n / 1e3).toFixed(a >= 1e4 ? 1 : 2) + "k";
      return String(n);
    },
    usd(x) {
      if (x == null || x === "") return "—";
      const v = Number(x);
      const digits = Math.abs(v) < 1 && v !== 0 ? 3 : 2;
      return "$" + v.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
    },
    pct(x) { return x == null ? "—" : (100 * x).toFixed(x < 0.1 && x > 0 ? 1 : 0) + "%"; },
    ms(x) { return x == null ? "—" : x >= 1000 ? (x / 1000).toFixed(1) + " s" : Math.round(x) + " ms"; },
    duration(s) {
      if (s == null) return "—";
      s = Math.round(s);
      if (s < 60) return s + "s";
      if (s < 3600) return Math.floor(s / 60) + "m " + (s % 60) + "s";
      return Math.floor(s / 3600) + "h " + Math.floor((s % 3600) / 60) + "m";
    },
    time(iso) {
      if (!iso) return "—";
      return new Date(iso).toLocaleString("en-GB", { timeZone: BP.zone, dateStyle: "medium", timeStyle: "short" });
    },
    clock(iso) {
      if (!iso) return "—";
      return new Date(iso).toLocaleTimeString("en-GB", { timeZone: BP.zone });
    },
  });

  // --- colours: one per model family and per platform, the same on every page ------------------------
  const PALETTE = ["#4f7cff", "#f59e0b", "#10b981", "#ef4444", "#8b5cf6", "#06b6d4", "#ec4899", "#84cc16", "#64748b", "#f97316"];
  const KNOWN = { opus: "#8b5cf6", sonnet: "#4f7cff", haiku: "#10b981", gpt: "#f59e0b", gemini: "#06b6d4",
                  claude_code: "#d97757", cursor: "#1f2937", input: "#4f7cff", output: "#10b981",
                  cache_write: "#f59e0b", cache_read: "#94a3b8" };
  function hash(s) { let h = 0; for (const c of String(s)) h = (h * 31 + c.charCodeAt(0)) | 0; return Math.abs(h); }
  BP.color = function (name) {
    const s = String(name || "").toLowerCase();
    if (KNOWN[s]) return KNOWN[s];
    for (const k of ["opus", "sonnet", "haiku", "gpt", "gemini"]) if (s.includes(k)) {
      // The same family, a different model: the family's colour, lighter or darker by the name's hash.
      const shade = (hash(s) % 5) - 2;
      return shadeColor(KNOWN[k], shade * 12);
    }
    return PALETTE[hash(s) % PALETTE.length];
  };
  function shadeColor(hex, percent) {
    const n = parseInt(hex.slice(1), 16);
    const f = (c) => Math.max(0, Math.min(255, Math.round(c + (percent / 100) * (percent > 0 ? 255 - c : c))));
    return "#" + [(n >> 16) & 255, (n >> 8) & 255, n & 255].map((c) => f(c).toString(16).padStart(2, "0")).join("");
  }

  BP.PLATFORM_LABELS = { claude_code: "Claude Code", cursor: "Cursor" };

  // --- small DOM helpers ----------------------------------------------------------------------------
  BP.el = function (tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v == null || v === false) continue;
      if (k === "class") e.className = v; else if (k === "text") e.textContent = v; else e.setAttribute(k, v);
    }
    for (const c of children.flat()) if (c != null) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return e;
  };
  BP.platformCell = function (platform) {
    return BP.el("span", { class: "nowrap" }, BP.el("span", { class: "dot", style: "background:" + BP.color(platform) }),
      BP.PLATFORM_LABELS[platform] || platform);
  };
  /** Tokens of `responses` answers of which `missing` had no tokens recorded (Cursor keeps none for some):
   *  "—" when none was recorded, else the recorded sum marked "+?"; the tooltip says what is missing.
   *  Tokens that were not recorded are never shown as 0, and never estimated. */
  BP.tokensCell = function (tokens, missing, responses) {
    if (!missing) return fmt.tokens(tokens);
    const some = missing === 1 ? "1 response" : missing + " responses";
    if (!tokens) {
      return BP.el("span", { class: "tokens-missing", "data-missing": missing,
        title: "Tokens not recorded by the assistant (" + some + ")" }, "—");
    }
    return BP.el("span", { class: "tokens-missing", "data-missing": missing,
      title: "Recorded tokens only: " + some + (responses ? " of " + responses : "") + " had no tokens recorded" },
      fmt.tokens(tokens), BP.el("sup", {}, "+?"));
  };
  /** Cost of the same answers: a cost comes from tokens, so where they were not recorded it is missing too. */
  BP.costCell = function (cost, missing, responses) {
    if (!missing) return fmt.usd(cost);
    const some = missing === 1 ? "1 response" : missing + " responses";
    if (!Number(cost)) {
      return BP.el("span", { class: "tokens-missing", title: "Cost unknown: the assistant recorded no tokens (" + some + ")" }, "—");
    }
    return BP.el("span", { class: "tokens-missing",
      title: "Cost of recorded tokens only: " + some + (responses ? " of " + responses : "") + " had no tokens recorded" },
      fmt.usd(cost), BP.el("sup", {}, "+?"));
  };
  /** Tokens in the element `e` as BP.tokensCell shows them, replaced only when they changed (BP.fill leaves
   *  such a figure to this: a live update of the same figures must not flash it). */
  BP.tokensFill = function (e, tokens, missing, responses) {
    const cell = BP.tokensCell(tokens, missing, responses);
    const node = cell instanceof Node ? cell : document.createTextNode(cell);
    const title = node.title || "";
    if (e.textContent === node.textContent && ((e.firstElementChild && e.firstElementChild.title) || "") === title) return;
    e.replaceChildren(node);
  };
  /** Set the text of every [data-figure=name] element: values[name] formatted by its data-format. */
  BP.fill = function (root, values) {
    for (const e of (root || document).querySelectorAll("[data-figure]")) {
      const name = e.dataset.figure;
      if (!(name in values)) continue;
      const f = fmt[e.dataset.format || "int"] || fmt.int;
      const text = f(values[name]);
      if (e.textContent !== text) { e.textContent = text; e.classList.remove("flash"); void e.offsetWidth; e.classList.add("flash"); }
    }
  };
  /** A table from columns [{key, label, format}] and rows; an empty table says `empty`. */
  BP.table = function (columns, rows, empty) {
    const head = BP.el("tr", {}, columns.map((c) => BP.el("th", { class: c.num ? "num" : null }, c.label)));
    const body = rows.length
      ? rows.map((r) => BP.el("tr", {}, columns.map((c) => {
          const v = typeof c.key === "function" ? c.key(r) : r[c.key];
          const cell = c.format ? (typeof c.format === "function" ? c.format(v, r) : fmt[c.format](v)) : v;
          return BP.el("td", { class: c.num ? "num" : null }, cell == null ? "—" : cell);
        })))
      : [BP.el("tr", {}, BP.el("td", { colspan: columns.length, class: "empty" }, empty || "Nothing here yet."))];
    return BP.el("table", { class: "data" }, BP.el("thead", {}, head), BP.el("tbody", {}, body));
  };

  // --- charts, each with the table it came from a click away ------------------------------------------
  const charts = {};
  /** Draw (or update in place) the chart in the card `id`: config is a Chart.js config whose data has
   *  labels and datasets; the card's "Table" toggle shows the same numbers as a table. `format` formats
   *  the values (a BP.fmt name). */
  // Charts of the first drawing wait for the frame after it, and Chart.js itself is run only then (base.html
  // preloads it): parsing it and building the charts took 85-130 ms of script on the overview
  // (bench/dashboard.py), which held back the first paint of the numbers above them.
  let firstFramePainted = false;
  const waiting = new Map();
  BP.chart = function (id, config, format) {
    if (!firstFramePainted) { waiting.set(id, [config, format]); return; }
    chartDraw(id, config, format);
  };
  function chartsAfterFirstFrame() {
    requestAnimationFrame(() => setTimeout(() => chartLibraryLoad(() => {
      firstFramePainted = true;
      for (const [id, [config, format]] of waiting) chartDraw(id, config, format);
      waiting.clear();
    }), 0));
  }
  function chartLibraryLoad(done) {
    const preloaded = document.getElementById("chartjs");
    if (window.Chart || !preloaded) return done();  // without it, a chart card shows its table
    const script = document.createElement("script");
    script.src = preloaded.href;
    script.onload = done;
    script.onerror = done;
    document.head.append(script);
  }
  function chartDraw(id, config, format) {
    const card = document.getElementById(id);
    if (!card) return;
    const canvas = card.querySelector("canvas");
    const tableBox = card.querySelector(".chart-table");
    const f = fmt[format || "int"];
    const data = config.data;
    const empty = !data.labels.length;
    card.classList.toggle("is-empty", empty);
    if (window.Chart && canvas) {
      const existing = charts[id];
      if (existing && existing.config.type === config.type) {
        existing.data.labels = data.labels;
        existing.data.datasets = data.datasets;
        existing.update("none");
      } else {
        if (existing) existing.destroy();
        config.options = Object.assign({ responsive: true, maintainAspectRatio: false, animation: false,
          plugins: { legend: { position: "bottom", labels: { boxWidth: 12 } },
                     tooltip: { callbacks: { label: (c) => `${c.dataset.label || c.label}: ${f(c.raw)}` } } },
          scales: config.type === "doughnut" ? {} : { y: { ticks: { callback: (v) => f(v) } } } }, config.options || {});
        charts[id] = new window.Chart(canvas, config);
      }
    }
    if (tableBox) {
      const columns = [{ key: "label", label: card.dataset.labelColumn || "" }].concat(
        data.datasets.map((d, i) => ({ key: (r) => r.values[i], label: d.label || "value", format: f, num: true })));
      const rows = data.labels.map((label, j) => ({ label, values: data.datasets.map((d) => d.data[j]) }));
      tableBox.replaceChildren(BP.table(columns, rows));
    }
  }
  document.addEventListener("click", (ev) => {
    const t = ev.target.closest("[data-toggle-table]");
    if (!t) return;
    const card = t.closest(".card");
    const on = card.classList.toggle("show-table");
    t.textContent = on ? "Chart" : "Table";
  });

  // --- pickers: the URL holds the filters ------------------------------------------------------------
  function pickersInit() {
    const params = new URLSearchParams(location.search);
    BP.zone = (document.querySelector("[data-zone]") || {}).dataset?.zone || "UTC";
    const zoneSelect = document.querySelector("select[name=tz]");
    if (zoneSelect && Intl.supportedValuesOf) {
      const current = zoneSelect.value;
      const browser = Intl.DateTimeFormat().resolvedOptions().timeZone;
      const zones = Array.from(new Set(["UTC", browser, current].concat(Intl.supportedValuesOf("timeZone"))));
      zoneSelect.replaceChildren(...zones.map((z) => BP.el("option", { value: z, selected: z === current }, z)));
    }
    for (const s of document.querySelectorAll("[data-picker]")) {
      s.addEventListener("change", () => {
        const p = new URLSearchParams(location.search);
        if (s.value) p.set(s.name, s.value); else p.delete(s.name);
        if (s.name === "period") { p.delete("since"); p.delete("until"); }
        location.search = p.toString();
      });
    }
    return params;
  }

  // --- live updates ------------------------------------------------------------------------------------
  /** A WebSocket to `path` (with the page's filters) that reconnects with backoff (1 s doubling to 30 s,
   *  jittered) and calls onMessage with each parsed message. Returns {close()}. */
  BP.socket = function (path, params, onMessage) {
    let ws, delay = 1000, closed = false, timer;
    const state = document.getElementById("live-state");
    const url = () => (location.protocol === "https:" ? "wss://" : "ws://") + location.host + path + "?" + params.toString();
    function open() {
      ws = new WebSocket(url());
      ws.onopen = () => { delay = 1000; if (state) state.dataset.state = "live"; };
      ws.onmessage = (ev) => { try { onMessage(JSON.parse(ev.data)); } catch (e) { console.warn("bad live message", e); } };
      ws.onclose = (ev) => {
        if (state) state.dataset.state = "down";
        // 44xx: the server refused this request (access, filters, no such session): asking again
        // would be refused again. Anything else (a restart, Redis away) is worth retrying.
        if (ev.code >= 4400 && ev.code < 4500) {
          closed = true;
          if (state) state.title = "live updates refused: " + (ev.reason || ev.code);
        }
        if (closed) return;
        timer = setTimeout(open, delay * (0.75 + Math.random() / 2));
        delay = Math.min(delay * 2, 30000);
      };
    }
    open();
    return { close() { closed = true; clearTimeout(timer); ws && ws.close(); } };
  };

  /** Start a page: render its embedded figures, then redraw from each /ws/metrics push. `extra` adds
   *  query parameters for the socket (e.g. the session on a session page). */
  BP.page = function (render, extra) {
    const params = pickersInit();
    const figures = JSON.parse(document.getElementById("figures").textContent);
    render(figures, { initial: true });
    chartsAfterFirstFrame();
    const page = document.body.dataset.page;
    const socketParams = new URLSearchParams(params);
    socketParams.set("page", page);
    socketParams.set("tz", BP.zone);
    for (const [k, v] of Object.entries(extra || {})) socketParams.set(k, v);
    BP.metrics = BP.socket("/ws/metrics", socketParams, (msg) => {
      if ((msg.type === "snapshot" || msg.type === "figures") && msg.page === page) render(msg.figures, { initial: false, changed: msg.changed });
    });
  };
})();
