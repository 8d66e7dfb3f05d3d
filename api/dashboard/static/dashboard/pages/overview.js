// The overview page: draws its figures (see dashboard.js, BP.page; api/dashboard/pages/overview.py), and
// lists the newest events as /ws/events pushes them.
(function () {
  "use strict";
  const BP = window.BP;
  const el = BP.el, fmt = BP.fmt;
  const KPIS = ["cost_usd", "tokens", "sessions", "prompts", "tool_calls", "tool_failure_rate", "acceptance_rate",
                "active_seconds"];
  const LIVE_ROWS = 20;

  function render(fig, how) {
    document.getElementById("empty-state").hidden = !fig.empty;
    const values = {};
    for (const k of KPIS) {
      values["period_" + k] = fig.period[k];
      values["today_" + k] = fig.today[k];
    }
    // Tokens Cursor did not record: tokensMissingDraw shows those figures.
    if (fig.period.responses_without_tokens) delete values.period_tokens;
    if (fig.today.responses_without_tokens) delete values.today_tokens;
    BP.fill(document, values);
    // A period of today alone: the cards' "Today" lines would repeat their numbers.
    document.querySelector(".kpis").classList.toggle("today-only", fig.unit === "hour");
    BP.spanNote(fig.span);
    const labels = fig.labels.map((l) => BP.bucketLabel(fig.unit, l));
    BP.stackedBars("card-cost", labels, fig.cost_by_model, "usd", (s) => (s.name === "other" ? BP.OTHER_COLOUR : BP.color(s.name)));
    BP.stackedBars("card-tokens", labels, fig.tokens_by_kind, "tokens",
      (s) => BP.color(s.name.replace(/_tokens$/, "")), (s) => BP.KIND_LABELS[s.name] || s.name, false);
    kindTotalsDraw(fig.period);
    tokensMissingDraw(fig.period, fig.today);
    platformsDraw(fig.platforms, labels);
    aiLinesDraw(fig.ai_lines);
    otelDraw(fig.otel);
    projectsDraw(fig.projects);
    sessionsDraw(fig.sessions);
    const chip = document.querySelector("#project-chip b");
    const named = fig.projects.length === 1 ? fig.projects[0].project : null;
    if (chip && named) chip.textContent = named;
    if (how && how.initial) BP.unflash();
  }

  function kindTotalsDraw(period) {
    const kinds = Object.keys(BP.KIND_LABELS);
    document.getElementById("kind-totals").replaceChildren(...kinds.map((k) => BP.el("span", { class: "kind" },
      BP.el("span", { class: "dot", style: "background:" + BP.color(k.replace(/_tokens$/, "")) }),
      BP.KIND_LABELS[k] + " ", BP.el("b", {}, BP.fmt.tokens(period[k])))));
  }

  // Responses whose tokens Cursor did not record: the tokens are missing, not 0, and not guessed.
  function tokensMissingDraw(period, today) {
    const note = document.getElementById("tokens-missing");
    const missing = period.responses_without_tokens || 0;
    note.hidden = !missing;
    note.textContent = missing ? `+ ${BP.fmt.int(missing)} response${missing === 1 ? "" : "s"} without recorded tokens` : "";
    note.title = missing ? "Cursor did not record these responses' tokens: they are not counted, and not estimated" : "";
    for (const [totals, name] of [[period, "period_tokens"], [today, "today_tokens"]]) {
      const n = totals.responses_without_tokens || 0;
      if (n) BP.tokensFill(document.querySelector(`[data-figure=${name}]`), totals.tokens, n, totals.messages);
    }
  }

  function platformsDraw(platforms, labels) {
    document.getElementById("platforms-row").hidden = !platforms;
    if (!platforms) return;
    BP.stackedBars("card-platforms", labels, platforms.cost_by_platform, "usd", (s) => BP.color(s.name),
      (s) => BP.PLATFORM_LABELS[s.name] || s.name);
    document.getElementById("platforms-table").replaceChildren(BP.table([
      { key: "platform", label: "Platform", format: (v) => BP.platformCell(v) },
      { key: (r) => BP.costCell(r.cost_usd, r.responses_without_tokens, r.messages), label: "Cost", num: true },
      { key: (r) => BP.tokensCell(r.tokens, r.responses_without_tokens, r.messages), label: "Tokens", num: true },
      { key: "messages", label: "Responses", num: true, format: "int" },
    ], platforms.rows));
  }

  const AI_COLOURS = { AI: "#8b5cf6", Human: "#94a3b8" };
  function aiLinesDraw(ai) {
    document.getElementById("ai-lines-row").hidden = !ai;
    if (!ai) return;
    BP.fill(document.getElementById("ai-kpis"), ai);
    const days = ai.by_day.map((d) => BP.bucketLabel("day", d.day));
    BP.stackedBars("card-ai-lines", days, [
      { name: "AI", values: ai.by_day.map((d) => d.ai_lines) },
      { name: "Human", values: ai.by_day.map((d) => d.human_lines) },
    ], "int", (s) => AI_COLOURS[s.name]);
    document.getElementById("ai-sources-table").replaceChildren(BP.table([
      { key: "source", label: "Source" },
      { key: "lines", label: "Lines", num: true, format: "int" },
    ], ai.code_lines_by_source, "No AI code lines in this period."));
  }

  // Claude Code's OpenTelemetry export (pages/provenance.py): usage by where each call's numbers come from,
  // the calls only OTel saw, the disagreeing ones (both readings), and what only OTel reports.
  function otelDraw(otel) {
    document.getElementById("otel-row").hidden = !otel;
    if (!otel) return;
    const P = BP.provenance;
    const rows = otel.sources.map((r) => Object.assign({ label: P.SOURCE_LABELS[r.source] || r.source }, r))
      .concat([Object.assign({ label: "All (each call once)", source: "" }, otel.total)]);
    const sources = BP.table([
      { key: (r) => (r.source ? el("span", {}, P.badge(r.source), " ", r.label) : el("b", {}, r.label)), label: "Source" },
      { key: "messages", label: "API calls", num: true, format: "int" },
      { key: "tokens", label: "Tokens", num: true, format: "tokens" },
      { key: "cost_usd", label: "Cost", num: true, format: "usd" },
    ], rows);
    sources.querySelectorAll("tbody tr").forEach((tr, i) => { tr.dataset.source = rows[i].source || "all"; });
    document.getElementById("sources-table").replaceChildren(sources);

    const by = Object.fromEntries(otel.sources.map((r) => [r.source, r]));
    const plural = (n, one, many) => fmt.int(n) + " " + (n === 1 ? one : many);
    const notes = [];
    if (by.otel && by.otel.messages) {
      notes.push(el("li", { id: "otel-only-note" }, el("b", {}, plural(by.otel.messages, "API call", "API calls") + " only OTel saw"),
        ", " + fmt.usd(by.otel.cost_usd) + " (counted above: a /compact summary, a call whose transcript is gone)"));
    }
    const details = document.getElementById("otel-conflicts");
    const conflicts = by.conflict ? by.conflict.messages : 0;
    details.hidden = !conflicts;
    if (conflicts) {
      const show = el("a", { href: "#otel-conflicts", id: "conflicts-link" }, "both readings");
      show.addEventListener("click", () => { details.open = true; });
      notes.push(el("li", { id: "conflicts-note", class: "warn-text" }, el("b", {}, plural(conflicts, "call", "calls") + " where the transcript and OTel disagree"),
        ": the transcript's tokens count, OTel's are kept (", show, ")"));
      document.getElementById("conflicts-table").replaceChildren(P.conflictsTable(otel.conflicts, true));
    }
    const own = otel.reported;
    if (own.events || own.metrics) {
      const ways = [];
      if (own.events) ways.push(fmt.usd(own.events.cost_usd) + " over the " + plural(own.events.calls, "call", "calls") + " it reported");
      if (own.metrics) ways.push(fmt.usd(own.metrics.cost_usd) + " by its cost metric");
      notes.push(el("li", { id: "reported-note", title: "Claude Code's own prices, beside Blueplane's (" + fmt.usd(otel.total.cost_usd) + " over all calls)" },
        "Claude Code's own cost: " + ways.join("; ")));
    }
    const joins = otel.joins;
    notes.push(el("li", { class: "muted" }, "Seen by OTel: " + fmt.int(joins.tool_calls.in_otel) + " of " + plural(joins.tool_calls.total, "tool call", "tool calls") +
      ", " + fmt.int(joins.prompts.in_otel) + " of " + plural(joins.prompts.total, "prompt", "prompts")));
    document.getElementById("sources-notes").replaceChildren(...notes);

    const a = otel.activity;
    const activity = BP.table([
      { key: "label", label: "" },
      { key: "otel", label: "Claude Code (OTel)", num: true },
      { key: "blueplane", label: "Blueplane", num: true },
    ], [
      { label: "Active time", otel: P.seconds(a.otel_active_seconds), blueplane: fmt.duration(a.active_seconds) },
      { label: "Lines added / removed", otel: P.lines(a.otel_lines_added, a.otel_lines_removed), blueplane: P.lines(a.lines_added, a.lines_removed) },
      { label: "Edits accepted / rejected", otel: P.pair(a.otel_edit_accepts, a.otel_edit_rejects), blueplane: P.pair(a.edits_accepted, a.edits_rejected) },
      { label: "Tool decisions accepted / rejected", otel: el("a", { href: "/tools/" + BP.filterQuery({}), title: "Decisions by tool" }, P.pair(a.decisions.accept, a.decisions.reject)), blueplane: "—" },
    ]);
    activity.querySelectorAll("tbody tr").forEach((tr, i) => { tr.dataset.row = ["active", "lines", "edits", "decisions"][i]; });
    document.getElementById("otel-activity").replaceChildren(activity);
    const gaps = joins.otel_gaps;
    document.getElementById("otel-notes").replaceChildren(
      el("li", { id: "api-errors-note" }, "API errors ", el("b", {}, fmt.int(a.api_errors)), " · retries ", el("b", {}, fmt.int(a.api_retries)),
        el("span", { class: "muted" }, " (attempts after the first)")),
      gaps.records
        ? el("li", { id: "gaps-note", class: "warn-text", title: "Gaps in the OTel records' event.sequence: records Claude Code sent that never arrived" },
            "Possibly lost: " + plural(gaps.records, "OTel record", "OTel records") + " in " + plural(gaps.sessions, "session", "sessions") + "; OTel's figures may be short")
        : el("li", { id: "gaps-note", class: "muted" }, "No lost OTel record seen"));
  }

  function projectsDraw(rows) {
    const max = Math.max(0, ...rows.map((r) => Number(r.cost_usd)));
    const columns = [
      { key: "project", label: "Project", format: (v, r) => BP.el("a", { href: "/projects/" + BP.filterQuery({ project: r.project_key }), title: v }, v || "(unknown)") },
      { key: "cost_usd", label: "Cost", num: true, format: (v) => BP.barCell(BP.fmt.usd(v), Number(v), max) },
      { key: (r) => BP.tokensCell(r.tokens, r.responses_without_tokens, r.messages), label: "Tokens", num: true },
      { key: "sessions", label: "Sessions", num: true, format: "int" },
    ];
    document.getElementById("projects-table").replaceChildren(BP.table(columns, rows, "No usage in this period."));
  }

  function sessionsDraw(rows) {
    const columns = [
      { key: "session_id", label: "Session", format: (v) => BP.el("a", { href: "/sessions/" + encodeURIComponent(v) + "/", class: "mono", title: v }, v.slice(0, 8)) },
      { key: "started_at", label: "Started", format: "time" },
      { key: "platform", label: "Platform", format: (v) => BP.platformCell(v) },
      { key: "project", label: "Project" },
      { key: "models", label: "Models", format: (v) => v.length ? BP.el("span", {}, v.map((m) => BP.modelCell(m))) : "—" },
      { key: "prompts", label: "Prompts", num: true, format: "int" },
      { key: "tool_calls", label: "Tool calls", num: true, format: "int" },
      { key: (r) => BP.tokensCell(r.tokens, r.responses_without_tokens, r.messages), label: "Tokens", num: true },
      { key: (r) => BP.costCell(r.cost_usd, r.responses_without_tokens, r.messages), label: "Cost", num: true },
      { key: "status", label: "Status", format: (v) => BP.el("span", { class: "badge" + (v === "active" ? " ok" : "") }, v) },
    ];
    document.getElementById("sessions-table").replaceChildren(BP.table(columns, rows, "No session in this period."));
  }

  // --- live events: a snapshot, then each batch as the fast path commits it (api/live/__init__.py) ------
  let events = [];
  // An event of today by its clock; an older one (an import, a replay) with its day too.
  function eventTime(iso) {
    const day = (d) => d.toLocaleDateString("en-CA", { timeZone: BP.zone });
    return day(new Date(iso)) === day(new Date()) ? BP.fmt.clock(iso) : BP.fmt.time(iso);
  }
  const seen = new Set();
  function liveDraw(fresh) {
    const columns = [
      { key: "timestamp", label: "Time", format: eventTime },
      { key: "platform", label: "Platform", format: (v) => BP.platformCell(v) },
      { key: "session_id", label: "Session", format: (v) => BP.el("a", { href: "/sessions/" + encodeURIComponent(v) + "/", class: "mono", title: v }, String(v).slice(0, 8)) },
      { key: "event_type", label: "Event", format: (v) => BP.el("span", { class: "badge" }, v) },
    ];
    const table = BP.table(columns, events, "Waiting for events…");
    table.classList.add("live-table");
    table.querySelectorAll("tbody tr").forEach((tr, i) => { if (i < fresh) tr.classList.add("flash"); });
    document.getElementById("live-events").replaceChildren(table);
    document.getElementById("live-note").textContent = events.length ? "newest first" : "no events yet";
  }
  function liveAdd(list, replace) {
    if (replace) { events = []; seen.clear(); }
    let fresh = 0;
    for (const e of list) {  // oldest first on the wire
      if (seen.has(e.event_id)) continue;
      seen.add(e.event_id);
      events.unshift(e);
      fresh++;
    }
    events = events.slice(0, LIVE_ROWS);
    if (seen.size > 10 * LIVE_ROWS) { seen.clear(); for (const e of events) seen.add(e.event_id); }
    liveDraw(replace ? 0 : fresh);
  }

  BP.page(render);
  const url = new URLSearchParams(location.search);
  const liveParams = new URLSearchParams({ limit: String(LIVE_ROWS) });
  for (const k of ["platform", "project"]) if (url.get(k)) liveParams.set(k, url.get(k));
  liveDraw(0);
  BP.socket("/ws/events", liveParams, (msg) => {
    if (msg.type === "snapshot") liveAdd(msg.events || [], true);
    else if (msg.type === "events") liveAdd(msg.events || [], false);
  });
})();
