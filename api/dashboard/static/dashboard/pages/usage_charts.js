// Usage over time as stacked bars, and the small things the overview and the projects page share
// (the figures come from api/dashboard/pages/usage_charts.py).
(function () {
  "use strict";
  const BP = window.BP;
  BP.KIND_LABELS = { input_tokens: "Input", output_tokens: "Output", cache_write_tokens: "Cache write",
                     cache_read_tokens: "Cache read" };
  const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

  if (window.Chart) {
    const root = getComputedStyle(document.documentElement);
    window.Chart.defaults.font.family = root.fontFamily;
    window.Chart.defaults.color = root.getPropertyValue("--muted").trim() || "#5f6b7a";
  }

  /** A bucket's name (YYYY-MM-DD of a day or a week's Monday, YYYY-MM of a month, HH:MM of an hour) as
   *  people read it on an axis. */
  BP.bucketLabel = function (unit, name) {
    if (unit === "hour") return name;
    const [y, m, d] = name.split("-").map(Number);
    if (unit === "month") return MONTHS[m - 1] + " " + y;
    return (unit === "week" ? "wk " : "") + d + " " + MONTHS[m - 1];
  };

  /** Stacked bars in the card `id`: one dataset per series ({name, values}), coloured by colorOf(series),
   *  labelled by labelOf(series) (default its name); `legend` false leaves the legend to the card. */
  BP.stackedBars = function (id, labels, series, format, colorOf, labelOf, legend = true) {
    const f = BP.fmt[format];
    // Axis ticks in money need no tenth of a cent: $0.80, $12, $1,200.
    const tick = format === "usd" ? (v) => "$" + Number(v).toLocaleString("en-US",
      { minimumFractionDigits: Math.abs(v) >= 100 || v === 0 ? 0 : 2, maximumFractionDigits: Math.abs(v) >= 100 ? 0 : 2 }) : f;
    // A span with no usage at all is the card's empty state ("No data in this period"), not a row of zeros.
    if (!series.some((s) => s.values.some((v) => Number(v) !== 0))) { labels = []; series = []; }
    BP.chart(id, {
      type: "bar",
      data: {
        labels,
        datasets: series.map((s) => ({
          label: labelOf ? labelOf(s) : s.name, data: s.values.map(Number), backgroundColor: colorOf(s),
          borderWidth: 0, stack: "all", maxBarThickness: 56, borderRadius: 2,
        })),
      },
      options: {
        interaction: { mode: "index", intersect: false },
        plugins: { legend: { display: legend, position: "bottom", labels: { boxWidth: 12 } },
                   tooltip: { callbacks: { label: (c) => `${c.dataset.label}: ${f(c.raw)}` } } },
        scales: {
          x: { stacked: true, grid: { display: false }, ticks: { maxRotation: 0, autoSkipPadding: 12 } },
          y: { stacked: true, beginAtZero: true, border: { display: false }, grid: { color: "#eef1f5" },
               ticks: { callback: tick, maxTicksLimit: 6 } },
        },
      },
    }, format);
  };

  // Projects have no colour of their own (their names are folder names): within a page they take these in
  // order of cost, so the charts and the table agree; the rest are "other", in grey.
  const RANKED = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7",
                  "#9c755f", "#86bcb6"];
  BP.OTHER_COLOUR = "#cbd5e1";
  /** key -> colour for keys in rank order (the first RANKED.length get a colour each). */
  BP.rankedColours = function (keys) {
    const out = {};
    keys.forEach((k, i) => { out[k] = k === "other" ? BP.OTHER_COLOUR : RANKED[i % RANKED.length]; });
    return out;
  };

  BP.modelCell = function (model) {
    return BP.el("span", { class: "nowrap" }, BP.el("span", { class: "dot", style: "background:" + BP.color(model) }), model);
  };
  /** A number with a bar behind it showing its share of `max` (for ranking tables). */
  BP.barCell = function (text, value, max, colour) {
    const pct = max > 0 ? Math.max(0, Math.min(100, (100 * value) / max)) : 0;
    return BP.el("span", { class: "bar-cell" },
      BP.el("span", { class: "bar", style: `width:${pct.toFixed(1)}%;background:${colour || "var(--accent)"}` }),
      BP.el("span", { class: "bar-text" }, text));
  };

  const FILTERS = ["period", "since", "until", "tz", "platform", "project", "model"];
  /** The page's filters as a query string (for links to other pages), with `set` applied. */
  BP.filterQuery = function (set) {
    const now = new URLSearchParams(location.search);
    const out = new URLSearchParams();
    for (const k of FILTERS) if (now.get(k)) out.set(k, now.get(k));
    for (const [k, v] of Object.entries(set || {})) { if (v) out.set(k, v); else out.delete(k); }
    const q = out.toString();
    return q ? "?" + q : "";
  };
  /** The first drawing is not news: only a live update flashes what it changed. */
  BP.unflash = function () { for (const e of document.querySelectorAll(".flash")) e.classList.remove("flash"); };

  /** The span the figures cover, said under the page's title. */
  BP.spanNote = function (span) {
    const note = document.getElementById("span-note");
    if (!note || !span) return;
    note.textContent = span.since === "0001-01-01" ? `All time, up to ${span.until} (${span.tz})`
      : span.since === span.until ? `${span.since} (${span.tz})` : `${span.since} – ${span.until} (${span.tz})`;
  };

  document.addEventListener("DOMContentLoaded", () => {
    for (const a of document.querySelectorAll("a[data-keep-filters]")) a.href = a.pathname + BP.filterQuery();
    for (const a of document.querySelectorAll("a[data-clear]")) a.href = location.pathname + BP.filterQuery({ [a.dataset.clear]: "" });
  });
})();
