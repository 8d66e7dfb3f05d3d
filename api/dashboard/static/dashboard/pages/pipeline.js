// The pipeline page: draws its figures (see dashboard.js, BP.page). The live feed pushes them again every
// second or two, whole; render redraws everything from them.
(function () {
  "use strict";
  const fmt = BP.fmt;
  // This page's own formats, for BP.fill's data-format (added only where the core has none of the name).
  fmt.seconds ??= (s) => (s == null ? "—" : s < 1 ? fmt.ms(s * 1000) : fmt.duration(s));
  fmt.rate ??= (x) => (x == null ? "—" : x === 0 ? "0" : x >= 100 ? fmt.int(Math.round(x)) : x.toFixed(x >= 10 ? 1 : 2));
  fmt.bytes ??= (n) => {
    if (n == null) return "—";
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let i = 0;
    while (Math.abs(n) >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return (i ? n.toFixed(n >= 10 ? 0 : 1) : String(n)) + " " + units[i];
  };
  const BADGE = { ok: "ok", warn: "warn", fail: "fail", degraded: "warn", failing: "fail" };
  const badge = (status) => BP.el("span", { class: "badge " + (BADGE[status] || ""), "data-status": status }, status);
  const $ = (id) => document.getElementById(id);

  function render(f, how) {
    const fp = f.fastpath, tp = fp && fp.throughput;
    const stream = f.stream || {}, slow = f.slowpath || {}, spool = f.spool || {};
    const overall = $("overall");
    overall.className = "badge " + (BADGE[f.status] || "");
    overall.dataset.status = f.status;
    overall.textContent = f.status;
    $("checked-at").textContent = fmt.clock(f.checked_at);

    // No event ever: say how to get some in.
    const stored = Object.values(f.raw_traces || {}).reduce((a, b) => a + b, 0);
    $("no-events").hidden = Boolean(stored || (tp && tp.events_total));

    BP.fill($("kpis"), {
      events_per_s: tp ? tp.events_per_s : null,
      stream_entries: f.stream ? stream.entries : null,
      stream_pending: f.stream ? stream.pending : null,
      stream_undelivered: f.stream ? stream.undelivered : null,
      // Nothing waiting is a lag of 0, not an unknown one.
      stream_lag_s: f.stream ? stream.oldest_waiting_s || 0 : null,
      slowpath_lag_s: f.slowpath ? slow.oldest_waiting_s || 0 : null,
      events_behind: f.slowpath ? slow.events_behind : null,
      sessions_behind: f.slowpath ? slow.sessions_behind : null,
      dlq_depth: f.dead_letters ? f.dead_letters.depth : null,
      failing_sessions: f.failing_sessions ? f.failing_sessions.sessions : null,
      spool_bytes: f.spool ? spool.bytes : null,
      spool_files: f.spool ? spool.files : null,
      heartbeat_age_s: f.worker ? f.worker.heartbeat_age_s : null,
      // Claude Code's OTLP export, as the receiver counted it (null while Redis does not answer).
      otlp_records: f.otlp && f.otlp.records != null ? f.otlp.records : null,
      otlp_requests: f.otlp && f.otlp.requests != null ? f.otlp.requests : null,
      otlp_refused: f.otlp && f.otlp.refused != null ? f.otlp.refused : null,
    });
    $("otlp-endpoint").textContent = f.otlp ? f.otlp.endpoint : "";
    $("unread").hidden = stream.undelivered == null; // Redis before 7 does not say
    // Flash what a push changed, not the first drawing of the page.
    if (how && how.initial) for (const e of $("kpis").querySelectorAll(".flash")) e.classList.remove("flash");
    $("rate-sub").textContent = !fp ? "Redis is not answering"
      : tp.events_per_s == null ? "measuring…"
      : "over the last " + fmt.duration(tp.window_s);
    // Past the slow path's counting caps the figures are lower bounds.
    for (const e of document.querySelectorAll(".inexact")) e.hidden = !f.slowpath || slow.exact;
    const status = Object.fromEntries(f.checks.map((c) => [c.name, c.status]));
    for (const k of document.querySelectorAll(".kpi[data-check]")) k.dataset.status = status[k.dataset.check] || "unknown";

    const series = tp ? tp.series : [];
    BP.chart("rate-chart", {
      type: "line",
      data: {
        labels: series.map((p) => fmt.clock(new Date(p.at * 1000).toISOString())),
        datasets: [{ label: "events/s", data: series.map((p) => Math.round(p.events_per_s * 100) / 100),
                     borderColor: "#4f7cff", backgroundColor: "rgba(79,124,255,.15)", fill: true,
                     pointRadius: 0, tension: 0.25 }],
      },
      options: { plugins: { legend: { display: false } }, scales: { y: { beginAtZero: true, ticks: { callback: (v) => fmt.rate(v) } } } },
    }, "rate");

    $("sources").replaceChildren(BP.table([
      { key: "platform", label: "Platform", format: (v) => [BP.el("span", { class: "dot", style: `background:${BP.color(v)}` }), v] },
      { key: "source", label: "Source" },
      { key: "events", label: "Events", format: "int", num: true },
    ], fp ? fp.by_source : [], fp ? "No events yet." : "Redis is not answering."));
    $("fastpath-totals").textContent = fp
      ? `${fmt.int(fp.inserted)} new to the store in ${fmt.int(fp.batches)} batches` +
        (fp.batch_latency_mean_s == null ? "" : `, ${fmt.ms(fp.batch_latency_mean_s * 1000)} per batch on average`)
      : "";

    $("checks").replaceChildren(BP.table([
      { key: "status", label: "Status", format: (v) => badge(v) },
      { key: "name", label: "Check", format: (v) => v.replace(/_/g, " ") },
      { key: "message", label: "" },
    ], f.checks));
    for (const [i, c] of f.checks.entries()) {
      const row = $("checks").querySelectorAll("tbody tr")[i];
      row.dataset.check = c.name;
      row.cells[2].className = "message";
    }

    const failing = f.failing_sessions;
    $("failing-list").replaceChildren(BP.table([
      { key: "session_id", label: "Session", format: (v) => BP.el("a", { href: "/sessions/" + encodeURIComponent(v) + "/", class: "mono" }, v.slice(0, 12)) },
      { key: "platform", label: "Platform" },
      { key: "failures", label: "Failures", format: "int", num: true },
      { key: "last_error", label: "Last error" },
      { key: "retry_at", label: "Retry at", format: "clock" },
    ], failing ? failing.newest : [], failing ? "None: every session derives." : "The database is not ready."));
    if (failing && failing.sessions > failing.newest.length) {
      $("failing-list").append(BP.el("p", { class: "muted" }, `The ${failing.newest.length} newest of ${fmt.int(failing.sessions)}.`));
    }

    const last = Object.entries(f.last_events || {}).map(([platform, e]) => ({ platform, ...(e || {}) }));
    $("last-events").replaceChildren(BP.table([
      { key: "platform", label: "Platform", format: (v) => [BP.el("span", { class: "dot", style: `background:${BP.color(v)}` }), v] },
      { key: "event_at", label: "Event time", format: "time" },
      { key: "stored_at", label: "Stored", format: "time" },
    ], last, "The database is not ready."));
  }

  BP.page(render);
})();
