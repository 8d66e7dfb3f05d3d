// One session's page: header figures, per-turn charts and table, timeline, tools, files, errors
// (see dashboard.js, BP.page). New events of the session arrive on /ws/events and are appended to the
// timeline at once, marked live; the next /ws/metrics push redraws it from the derived rows.
(function () {
  "use strict";
  const el = BP.el, fmt = BP.fmt;
  const first = JSON.parse(document.getElementById("figures").textContent);
  const sessionId = first.session_id, platform = first.session.platform;
  const base = "/sessions/" + encodeURIComponent(sessionId) + "/";
  const KINDS = [["input_tokens", "input", "Input"], ["output_tokens", "output", "Output"],
                 ["cache_write_tokens", "cache_write", "Cache write"], ["cache_read_tokens", "cache_read", "Cache read"]];

  const turnLabel = (t) => (t.index ? "#" + t.index : "before 1st prompt");
  const rawLink = (at) => el("a", { class: "raw", href: base + "events/?" + new URLSearchParams({ at, platform }),
                                    title: "The stored events at this moment" }, "raw");

  function describe(item, contentStored) {
    if (item.type === "tool_call") {
      const ok = item.status === "success";
      const cls = ok ? "ok" : item.status === "pending" ? "" : item.status === "rejected" || item.status === "interrupted" ? "warn" : "fail";
      return ["tool", el("span", {}, el("strong", {}, item.tool_name || "tool"),
        item.mcp_server ? el("span", { class: "muted" }, " (" + item.mcp_server + ")") : null, " ",
        el("span", { class: "badge " + cls }, item.status), item.error_type ? el("span", { class: "muted" }, " " + item.error_type) : null,
        item.duration_ms != null ? el("span", { class: "muted" }, " · " + fmt.ms(item.duration_ms)) : null,
        item.otel_duration_ms != null ? el("span", { class: "muted", title: "Claude Code's own run time of the call (OpenTelemetry)" }, " · Claude Code " + fmt.ms(item.otel_duration_ms)) : null,
        item.decision ? [" ", BP.provenance.decision(item.decision, item.decision_source)] : null,
        item.agent_id ? el("span", { class: "muted" }, " · sub-agent") : null)];
    }
    if (item.type === "code_change") {
      return ["change", el("span", {}, el("strong", {}, "Edit"), " ", el("code", {}, item.file_extension ? "." + item.file_extension : "(no ext)"),
        " ", el("span", { class: "plus" }, "+" + item.lines_added), " ", el("span", { class: "minus" }, "−" + item.lines_removed),
        " ", el("span", { class: "badge " + (item.status === "accepted" ? "ok" : "warn") }, item.status),
        item.tool_name ? el("span", { class: "muted" }, " via " + item.tool_name) : null)];
    }
    switch (item.kind) {
      case "user_prompt":
        return ["prompt", el("span", {}, el("strong", {}, "Prompt"), " ", el("span", { class: "muted" },
          (item.chars != null ? fmt.int(item.chars) + " chars · " : "") +
          (contentStored ? "text only in the raw event" : "text not stored (privacy)")))];
      case "assistant_response":
        return ["response", el("span", {}, el("strong", {}, item.agent_id ? "Sub-agent response" : "Response"), " ",
          item.model ? el("span", { class: "model-tag", style: "border-color:" + BP.color(item.model) }, item.model.replace(/^claude-/, "")) : null,
          item.tokens_known === false
            ? el("span", { class: "muted tokens-missing", title: "The assistant did not record this response's tokens: missing, not 0" }, " tokens not recorded")
            : el("span", { class: "muted" }, " " + fmt.tokens(item.tokens) + " tokens · " + fmt.usd(item.cost_usd)),
          el("span", { class: "muted" }, (item.latency_ms != null ? " · " + fmt.ms(item.latency_ms) : "") + (item.stop_reason ? " · " + item.stop_reason : "")),
          sourceOf(item))];
      case "compaction": return ["compaction", el("strong", {}, "Compaction")];
      case "subagent_run": return ["subagent", el("span", {}, el("strong", {}, "Sub-agent run"), el("span", { class: "muted mono" }, " " + item.agent_id))];
      case "api_error": return ["error", el("span", {}, el("strong", {}, "API error"), el("span", { class: "muted" }, item.model ? " " + item.model : ""))];
      case "rate_limits": return ["info", el("span", { class: "muted" }, "Rate limits seen")];
      default: return ["info", el("span", {}, item.kind)];
    }
  }

  // An API call's source (transcript, OTel, both, conflict) on a session OpenTelemetry reported: a badge,
  // and for a conflict both readings (the transcript's counted). A session without OTel has no badges.
  let otelSeen = !!first.otel;
  function sourceOf(item) {
    if (!otelSeen || !item.source) return null;
    const badge = BP.provenance.badge(item.source, item.readings);
    if (item.source !== "conflict" || !item.readings) return [" ", badge];
    return [" ", badge, el("span", { class: "conflict-readings" },
      "transcript " + BP.provenance.readingText(item.readings.transcript) + " | OTel " + BP.provenance.readingText(item.readings.otel))];
  }

  function timelineRow(item, contentStored) {
    const [kind, body] = describe(item, contentStored);
    return el("li", { class: "tl tl-" + kind, "data-type": item.type, "data-id": item.id },
      el("time", { datetime: item.at, title: fmt.time(item.at) }, fmt.clock(item.at)), el("span", { class: "tl-mark" }), body, rawLink(item.at));
  }

  function liveRow(ev) {
    return el("li", { class: "tl tl-live", "data-event-id": ev.event_id },
      el("time", { datetime: ev.timestamp }, fmt.clock(ev.timestamp)), el("span", { class: "tl-mark" }),
      el("span", {}, el("strong", {}, ev.event_type), el("span", { class: "badge warn" }, "live"), el("span", { class: "muted" }, " being processed")),
      rawLink(ev.timestamp));
  }

  // The derived items shown, oldest first. A live push carries the newest TIMELINE_MAX items: the ones
  // shown before it and not in it stay (older ones, or ones "Show earlier" fetched), so nothing between
  // them goes missing; `before` is the position before the oldest shown.
  const shown = { items: [], before: null };
  const key = (i) => i.type + ":" + i.id;
  function noteUpdate() {
    const n = shown.items.length;
    document.getElementById("timeline-note").textContent = shown.before
      ? `the latest ${n} items` : n === 1 ? "1 item" : `${n} items`;
  }
  function earlierButton() {
    if (!shown.before) return null;
    const button = el("button", { class: "toggle earlier", type: "button" }, "Show earlier items");
    button.addEventListener("click", async () => {
      button.disabled = true;
      const answer = await fetch(base + "timeline/?" + new URLSearchParams({ before: shown.before, platform }));
      if (!answer.ok) { button.textContent = "Could not load earlier items"; return; }
      const page = await answer.json();
      shown.items = page.items.concat(shown.items);
      shown.before = page.before;
      button.parentElement.replaceWith(...[earlierButton()].filter(Boolean), ...page.items.map((i) => timelineRow(i, contentStored)));
      noteUpdate();
    });
    return el("li", { class: "tl-earlier" }, button);
  }
  let contentStored = first.content_stored;

  // A reader at the end of the timeline stays there as rows arrive; one reading further up is not moved.
  const atEnd = (list) => list.scrollHeight - list.scrollTop - list.clientHeight < 8;

  function render(f, how) {
    const s = f.session;
    const kpis = document.getElementById("session-kpis");
    // Tokens the assistant did not record (Cursor) are missing, not 0: the KPI says so.
    const missing = s.responses_without_tokens || 0;
    const values = Object.assign({}, s);
    if (missing) delete values.tokens;
    if (missing && missing >= s.responses) {  // "—": nothing recorded, so no tokens and no cost to show
      values.output_tokens = null;
      if (!Number(s.cost_usd)) values.cost_usd = null;
    }
    BP.fill(kpis, values);
    if (missing) BP.tokensFill(kpis.querySelector("[data-figure=tokens]"), s.tokens, missing, s.responses);
    if (how && how.initial) for (const e of kpis.querySelectorAll(".flash")) e.classList.remove("flash");  // nothing changed yet
    document.getElementById("session-status").textContent = s.status.replace("_", " ");
    document.getElementById("session-models").textContent = s.models.join(", ") || "—";
    document.getElementById("session-span").textContent = s.started_at ? fmt.time(s.started_at) + " → " + fmt.time(s.last_event_at) : "";

    const labels = f.turns.map(turnLabel);
    // A turn none of whose responses had tokens recorded has no bar (and "—" in the table), not a 0.
    const unrecorded = (t) => t.responses > 0 && t.responses_without_tokens >= t.responses;
    BP.chart("turn-tokens-card", { type: "bar", data: { labels, datasets: KINDS.map(([key, color, label]) => ({
      label, data: f.turns.map((t) => (unrecorded(t) ? null : t[key])), backgroundColor: BP.color(color), stack: "t", maxBarThickness: 56 })) },
      options: { scales: { x: { stacked: true }, y: { stacked: true, ticks: { callback: (v) => fmt.tokens(v) } } } } }, "tokens");
    BP.chart("turn-cost-card", { type: "bar", data: { labels, datasets: [{ label: "Cost", data: f.turns.map((t) => Number(t.cost_usd)),
      backgroundColor: "#4f7cff", maxBarThickness: 56 }] }, options: { plugins: { legend: { display: false } } } }, "usd");
    BP.chart("files-card", { type: "doughnut", data: { labels: f.files.map((x) => x.file_extension ? "." + x.file_extension : "(none)"),
      datasets: [{ label: "Changes", data: f.files.map((x) => x.changes), backgroundColor: f.files.map((x) => BP.color("." + x.file_extension)) }] },
      options: { plugins: { legend: { position: "right" } } } }, "int");

    otelDraw(f.otel, s);
    const timeline = document.getElementById("timeline");
    const wasAtEnd = atEnd(timeline);
    contentStored = f.content_stored;
    if (how && how.initial) {
      shown.items = f.timeline;
      shown.before = f.timeline_before;
    } else {
      const fresh = new Set(f.timeline.map(key));
      shown.items = shown.items.filter((i) => !fresh.has(key(i))).concat(f.timeline);
    }
    timeline.replaceChildren(...[earlierButton()].filter(Boolean), ...shown.items.map((i) => timelineRow(i, contentStored)));
    if (wasAtEnd && !(how && how.initial)) timeline.scrollTop = timeline.scrollHeight;
    if (!shown.items.length) timeline.append(el("li", { class: "empty" }, "No derived rows yet: the slow path has not reached this session."));
    noteUpdate();

    document.getElementById("turns-note").textContent = f.turns_total > f.turns.length ? `first ${f.turns.length} of ${f.turns_total}` : f.turns_total === 1 ? "1 turn" : `${f.turns_total} turns`;
    document.getElementById("turns-table").replaceChildren(BP.table([
      { label: "Turn", key: turnLabel },
      { label: "Prompt at", key: "prompt_at", format: "time" },
      { label: "Prompt", key: (t) => t.prompt_chars == null ? "—" : fmt.int(t.prompt_chars) + " chars", num: true },
      { label: "Responses", key: "responses", format: "int", num: true },
      { label: "Tool calls", key: "tool_calls", format: "int", num: true },
      { label: "Failures", key: "tool_failures", format: "int", num: true },
      { label: "Model(s)", key: (t) => t.models.join(", ") || "—" },
      { label: "Tokens", key: (t) => BP.tokensCell(t.tokens, t.responses_without_tokens, t.responses), num: true },
      { label: "Cost", key: (t) => BP.costCell(t.cost_usd, t.responses_without_tokens, t.responses), num: true },
    ], f.turns, "No turns yet."));

    // Conversations: a Cursor window session holds several (its composers); a Claude Code session is one.
    const conversations = f.conversations || [];
    document.getElementById("conversations-card").hidden = platform !== "cursor" && conversations.length < 2;
    document.getElementById("conversations-table").replaceChildren(BP.table([
      { label: "Conversation", key: (c) => el("span", { class: "mono", title: c.conversation_id }, c.conversation_id.slice(0, 8)) },
      { label: "Title", key: (c) => c.title || "—" },
      { label: "Mode", key: (c) => c.mode || "—" },
      { label: "Started", key: "started_at", format: "time" },
      { label: "Lines", key: (c) => c.lines_added == null && c.lines_removed == null ? "—"
          : el("span", {}, el("span", { class: "plus" }, "+" + (c.lines_added || 0)), " ", el("span", { class: "minus" }, "−" + (c.lines_removed || 0))), num: true },
      { label: "State", key: (c) => el("span", { class: "badge" + (c.archived ? "" : " ok") }, c.archived ? "archived" : "open") },
    ], conversations, "No conversation yet."));

    document.getElementById("session-tools").replaceChildren(BP.table([
      { label: "Tool", key: "tool_name" },
      { label: "Calls", key: "calls", format: "int", num: true },
      { label: "Failed", key: (t) => t.failures + t.rejections + t.interruptions, format: "int", num: true },
      { label: "Mean", key: "mean_ms", format: "ms", num: true },
    ], f.tools, "No tool calls."));

    const errors = f.tool_errors.map((e) => ({ what: e.tool_name, type: e.error_type || "error", count: e.count, at: e.last_seen }))
      .concat(f.api_errors.map((e) => ({ what: "API", type: e.model || "api error", count: 1, at: e.at })));
    document.getElementById("session-errors").replaceChildren(BP.table([
      { label: "Where", key: "what" }, { label: "Type", key: "type" },
      { label: "Count", key: "count", format: "int", num: true }, { label: "Last", key: "at", format: "clock" },
    ], errors, "No errors in this session."));

    const sub = document.getElementById("subagents-card");
    sub.hidden = !f.subagents.length;
    document.getElementById("subagents-table").replaceChildren(BP.table([
      { label: "Agent", key: "agent_type" }, { label: "Status", key: "status" },
      { label: "Started", key: "started_at", format: "clock" }, { label: "Duration", key: "duration_ms", format: "ms", num: true },
      { label: "Responses", key: "responses", format: "int", num: true }, { label: "Tool calls", key: "tool_calls", format: "int", num: true },
      { label: "Cost", key: "cost_usd", format: "usd", num: true },
    ], f.subagents));
  }

  // What Claude Code's OpenTelemetry export reported of the session, beside Blueplane's own figures; a
  // figure it did not report is "—". A note when some of its records may have been lost.
  function otelDraw(otel, s) {
    otelSeen = !!otel;
    document.getElementById("otel-card").hidden = !otel;
    const note = document.getElementById("otel-gap-note");
    note.hidden = !(otel && otel.gaps);
    if (!otel) return;
    const P = BP.provenance;
    note.textContent = otel.gaps
      ? `OpenTelemetry: ${fmt.int(otel.gaps)} record${otel.gaps === 1 ? "" : "s"} of this session may have been lost (a gap in its event.sequence); figures only OTel gives may be short.`
      : "";
    const rows = [
      { label: "Active time", otel: P.seconds(otel.active_seconds), blueplane: fmt.duration(s.active_seconds) },
      { label: "Lines added / removed", otel: P.lines(otel.lines_added, otel.lines_removed), blueplane: P.lines(s.lines_added, s.lines_removed) },
      { label: "Edits accepted / rejected", otel: P.pair(otel.edit_accepts, otel.edit_rejects), blueplane: "—" },
      { label: "API retries", otel: fmt.int(otel.api_retries), blueplane: "—" },
      { label: "Tool calls seen", otel: fmt.int(otel.tool_calls_in_otel), blueplane: fmt.int(s.tool_calls) },
    ];
    const table = BP.table([
      { key: "label", label: "" },
      { key: "otel", label: "Claude Code", num: true },
      { key: "blueplane", label: "Blueplane", num: true },
    ], rows);
    table.querySelectorAll("tbody tr").forEach((tr, i) => { tr.dataset.row = ["active", "lines", "edits", "retries", "tools"][i]; });
    document.getElementById("otel-figures").replaceChildren(table);
    document.getElementById("otel-sources").replaceChildren("API calls:",
      ...P.SOURCES.filter((k) => otel.requests[k]).map((k) => el("span", { "data-source": k }, P.badge(k), fmt.int(otel.requests[k]))));
    const details = document.getElementById("otel-conflicts");
    details.hidden = !otel.conflicts.length;
    document.getElementById("conflicts-table").replaceChildren(P.conflictsTable(otel.conflicts, false));
  }

  BP.page(render, { session: sessionId, platform });
  // New events of this session, as the fast path stores them: shown at once, until the derived rows
  // (the next figures push) replace them.
  BP.events = BP.socket("/ws/events", new URLSearchParams({ session: sessionId, platform }), (msg) => {
    if (msg.type !== "events") return;
    const timeline = document.getElementById("timeline");
    timeline.querySelector(":scope > li.empty")?.remove();
    const wasAtEnd = atEnd(timeline);
    for (const ev of msg.events) {
      if (ev.session_id !== sessionId || timeline.querySelector(`[data-event-id="${CSS.escape(ev.event_id)}"]`)) continue;
      timeline.append(liveRow(ev));
    }
    if (wasAtEnd) timeline.scrollTop = timeline.scrollHeight;
  });
})();
