// The tools page: outcomes and latency per tool, failures per day, common errors (see dashboard.js).
(function () {
  "use strict";
  const el = BP.el, fmt = BP.fmt;
  const OUTCOMES = [["ok", "Succeeded", "#10b981"], ["failures", "Failed", "#ef4444"],
                    ["rejections", "Rejected", "#f59e0b"], ["interruptions", "Interrupted", "#8b5cf6"]];
  const CHART_TOOLS = 12;

  function toolLink(name) {
    const p = new URLSearchParams(location.search);
    p.set("tool", name);
    return el("a", { href: "?" + p.toString(), title: "Only " + name }, name);
  }

  function render(f, how) {
    const kpis = document.getElementById("tools-kpis");
    BP.fill(kpis, f.totals);
    if (how && how.initial) for (const e of kpis.querySelectorAll(".flash")) e.classList.remove("flash");  // nothing changed yet
    const empty = document.getElementById("tools-empty");
    empty.replaceChildren();
    if (!f.tools.length) {
      empty.append(el("p", { class: "empty-state" }, "No tool calls in this period. Tool calls are counted from ",
        el("code", {}, "blueplane install claude-code"), " (new sessions) or ", el("code", {}, "blueplane import claude-code"),
        " (past ones); or pick a longer period."));
    }
    const top = f.tools.slice(0, CHART_TOOLS);
    const ok = (t) => t.calls - t.failures - t.rejections - t.interruptions;
    BP.chart("calls-card", { type: "bar", data: { labels: top.map((t) => t.tool_name),
      datasets: OUTCOMES.map(([key, label, color]) => ({ label, backgroundColor: color, stack: "c", maxBarThickness: 28,
        data: top.map((t) => (key === "ok" ? ok(t) : t[key])) })) },
      options: { indexAxis: "y", scales: { x: { stacked: true }, y: { stacked: true } } } }, "int");
    const timed = top.filter((t) => t.p50_ms != null);
    BP.chart("latency-card", { type: "bar", data: { labels: timed.map((t) => t.tool_name),
      datasets: [["p50_ms", "p50", "#94a3b8"], ["p95_ms", "p95", "#4f7cff"], ["p99_ms", "p99", "#1e3a8a"]].map(([key, label, color]) => ({
        label, backgroundColor: color, maxBarThickness: 14, data: timed.map((t) => t[key]) })) },
      // Latencies span milliseconds to minutes: a log scale, labelled at powers of ten.
      options: { scales: { y: { type: "logarithmic", ticks: { callback: (v) => (Math.log10(v) % 1 === 0 ? fmt.ms(v) : null) } } } } }, "ms");
    const series = f.failures_by_day.series;
    BP.chart("failures-card", { type: "bar", data: { labels: f.failures_by_day.labels,
      datasets: series.map((s) => ({ label: s.tool, data: s.data, backgroundColor: BP.color(s.tool), stack: "f", maxBarThickness: 56 })) },
      options: { scales: { x: { stacked: true }, y: { stacked: true, ticks: { precision: 0 } } } } }, "int");

    document.getElementById("tools-table").replaceChildren(BP.table([
      { label: "Tool", key: (t) => toolLink(t.tool_name) },
      { label: "Calls", key: "calls", format: "int", num: true },
      { label: "Failed", key: "failures", format: "int", num: true },
      { label: "Rejected", key: "rejections", format: "int", num: true },
      { label: "Interrupted", key: "interruptions", format: "int", num: true },
      { label: "Failure rate", key: "failure_rate", format: "pct", num: true },
      { label: "Mean", key: "mean_ms", format: "ms", num: true },
      { label: "p50", key: "p50_ms", format: "ms", num: true },
      { label: "p95", key: "p95_ms", format: "ms", num: true },
      { label: "p99", key: "p99_ms", format: "ms", num: true },
    ], f.tools, "No tool calls in this period."));

    // Claude Code's tool decisions (OpenTelemetry): null when none was reported, and the card is hidden.
    document.getElementById("decisions-card").hidden = !f.decisions;
    document.getElementById("decisions-table").replaceChildren(BP.table([
      { label: "Tool", key: (d) => toolLink(d.tool_name) },
      { label: "Decision", key: (d) => el("span", { class: "badge " + (d.decision === "accept" ? "ok" : d.decision === "reject" ? "warn" : "") },
          d.decision === "accept" ? "accepted" : d.decision === "reject" ? "rejected" : d.decision) },
      { label: "Decided by", key: (d) => el("span", { class: "mono", title: "Claude Code's decision source" }, d.decision_source || "—") },
      { label: "Calls", key: "calls", format: "int", num: true },
    ], f.decisions || []));

    document.getElementById("errors-table").replaceChildren(BP.table([
      { label: "Tool", key: "tool_name" },
      { label: "Type", key: (g) => el("span", { class: "badge " + (g.error_type === "user_rejected" || g.error_type === "interrupted" ? "warn" : "fail") }, g.error_type || "error") },
      { label: "Message", key: (g) => g.error_text ? el("span", { title: g.error_text }, g.error_text)
          : el("span", { class: "muted", title: "text not stored (privacy); equal messages share a hash" }, g.error_hash ? "#" + g.error_hash : "—") },
      { label: "Count", key: "count", format: "int", num: true },
      { label: "Sessions", key: "sessions", format: "int", num: true },
      { label: "Last seen", key: "last_seen", format: "time" },
    ], f.errors, "No failed tool calls in this period."));
  }

  BP.page(render);
})();
