// Where Claude Code's numbers come from (docs/metrics.md, "one ledger with provenance"), drawn the same way on
// the overview and a session's page: a call's source as a badge, both readings of a call whose sources
// disagree, a tool decision and who made it. A figure OpenTelemetry did not report is "—", never 0.
(function () {
  "use strict";
  const el = BP.el, fmt = BP.fmt;
  const P = (BP.provenance = {});

  P.SOURCES = ["both", "transcript", "otel", "conflict"];
  P.SOURCE_LABELS = { both: "Both agreeing", transcript: "Transcript only", otel: "OTel only", conflict: "Disagreeing" };
  // source -> [badge text, badge class, what it means]
  const BADGES = {
    both: ["both", "ok", "The transcript and OpenTelemetry both saw this call, with the same tokens"],
    transcript: ["transcript", "", "Only the transcript saw this call"],
    otel: ["OTel", "otel", "Only OpenTelemetry saw this call (a /compact summary, a call whose transcript is gone): its tokens, priced by Blueplane"],
    conflict: ["conflict", "warn", "The transcript and OpenTelemetry saw this call with different tokens: the transcript's count"],
  };
  const KINDS = [["input_tokens", "in"], ["output_tokens", "out"], ["cache_write_tokens", "cache write"],
                 ["cache_read_tokens", "cache read"]];

  /** One source's reading of a call as text: tokens by kind, and Claude Code's cost when it gave one. */
  P.readingText = function (r) {
    if (!r) return "—";
    const kinds = KINDS.map(([k, label]) => fmt.int(r[k]) + " " + label).join(" · ");
    return kinds + (r.cost_usd != null ? " · " + fmt.usd(r.cost_usd) + " (Claude Code's cost)" : "");
  };

  /** A reading as a cell: each kind's count, those that differ from `other`'s marked. */
  P.readingCell = function (r, other) {
    if (!r) return "—";
    const parts = [];
    KINDS.forEach(([k, label], i) => {
      if (i) parts.push(" · ");
      const differs = other && Number(other[k]) !== Number(r[k]);
      parts.push(el(differs ? "mark" : "span", { class: differs ? "differs" : null }, fmt.int(r[k]) + " " + label));
    });
    return el("span", { class: "reading" }, parts);
  };

  /** A call's source as a small badge; a conflict's tooltip gives both readings. */
  P.badge = function (source, readings) {
    const [text, cls, meaning] = BADGES[source] || [source, "", ""];
    let title = meaning;
    if (source === "conflict" && readings) {
      title += "\nTranscript: " + P.readingText(readings.transcript) + "\nOTel: " + P.readingText(readings.otel);
    }
    return el("span", { class: "badge source " + cls, "data-source": source, title }, text);
  };

  /** The calls whose sources disagree: both readings per call. */
  P.conflictsTable = function (rows, withSession) {
    const columns = [];
    if (withSession) {
      columns.push({ label: "Session", key: (c) => el("a", { href: "/sessions/" + encodeURIComponent(c.session_id) + "/", class: "mono", title: c.session_id }, c.session_id.slice(0, 8)) });
    }
    columns.push(
      { label: "When", key: "at", format: "time" },
      { label: "Request", key: (c) => el("span", { class: "mono", title: c.request_id }, c.request_id || "—") },
      { label: "Transcript (counted)", key: (c) => P.readingCell(c.transcript, c.otel) },
      { label: "OTel", key: (c) => P.readingCell(c.otel, c.transcript) },
      { label: "OTel cost", key: (c) => (c.otel ? c.otel.cost_usd : null), format: "usd", num: true },
    );
    const table = BP.table(columns, rows, "No call where the sources disagree.");
    table.classList.add("conflicts-table");
    return table;
  };

  /** A tool call's decision (accept/reject) and who made it (Claude Code's decision source, as it names it). */
  P.decision = function (decision, source) {
    if (!decision) return null;
    const cls = decision === "accept" ? "ok" : decision === "reject" ? "warn" : "";
    return el("span", { class: "decision", title: "Claude Code's tool decision" + (source ? ", made by " + source : "") },
      el("span", { class: "badge " + cls }, decision), source ? el("span", { class: "muted" }, " by " + source) : null);
  };

  /** Lines added and removed, or "—" when not reported. */
  P.lines = function (added, removed) {
    if (added == null && removed == null) return "—";
    return el("span", {}, el("span", { class: "plus" }, "+" + fmt.int(added || 0)), " ", el("span", { class: "minus" }, "−" + fmt.int(removed || 0)));
  };

  /** A duration in seconds ("—" when not reported), its exact value in the tooltip. */
  P.seconds = function (s) {
    if (s == null) return "—";
    return el("span", { title: Number(s).toLocaleString("en-US", { maximumFractionDigits: 3 }) + " s" }, fmt.duration(s));
  };

  /** Two counts as "a / b", or "—" when neither was reported. */
  P.pair = function (a, b) {
    return a == null && b == null ? "—" : fmt.int(a || 0) + " / " + fmt.int(b || 0);
  };
})();
