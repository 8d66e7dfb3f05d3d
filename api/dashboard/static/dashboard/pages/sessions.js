// The sessions page: the filtered list, a keyset page at a time (see dashboard.js, BP.page).
(function () {
  "use strict";
  const el = BP.el;
  const params = new URLSearchParams(location.search);

  function filterLink(name, value) {
    const p = new URLSearchParams(location.search);
    p.set(name, value);
    p.delete("cursor");
    return "?" + p.toString();
  }

  function pageLink(cursor) {
    const p = new URLSearchParams(location.search);
    if (cursor) p.set("cursor", cursor); else p.delete("cursor");
    return "?" + p.toString();
  }

  const COLUMNS = [
    { label: "Started", sort: "started_at", key: (r) => el("a", { href: "/sessions/" + encodeURIComponent(r.session_id) + "/" + (r.platform ? "?platform=" + r.platform : ""),
                                              title: r.session_id }, BP.fmt.time(r.started_at)) },
    { label: "Platform", key: (r) => BP.platformCell(r.platform) },
    { label: "Duration", key: "duration_s", format: "duration", num: true },
    { label: "Project", key: (r) => el("span", { title: r.git_branch ? "branch " + r.git_branch : null },
                                       r.project_key ? el("a", { class: "plain", href: filterLink("project", r.project_key), title: "Only this project" }, r.project || "—") : "—") },
    // Who and where: only on a store with more than one user or machine (the page says so).
    ...(document.getElementById("sessions-card")?.dataset.people ? [
      { label: "User", key: (r) => r.user ? el("a", { class: "plain", href: filterLink("user", r.user), title: "Only this user" }, r.user) : "—" },
      { label: "Machine", key: (r) => r.machine ? el("a", { class: "plain", href: filterLink("machine", r.machine), title: "Only this machine" }, r.machine) : "—" },
    ] : []),
    { label: "Model(s)", key: (r) => r.models.length ? el("span", {}, r.models.map((m, i) =>
        el("span", { class: "model-tag", style: "border-color:" + BP.color(m) }, m.replace(/^claude-/, "")))) : "—" },
    { label: "Status", key: (r) => el("span", { class: "badge" + (r.status === "active" ? " ok" : "") }, r.status.replace("_", " ")) },
    { label: "Prompts", key: "prompts", format: "int", num: true },
    { label: "Tool calls", key: "tool_calls", format: "int", num: true },
    { label: "Failures", key: (r) => r.failures ? el("span", { class: "badge fail" }, BP.fmt.int(r.failures)) : "0", num: true },
    { label: "Tokens", key: (r) => BP.tokensCell(r.tokens, r.responses_without_tokens, r.responses), num: true, sort: "tokens" },
    { label: "Cost", key: (r) => BP.costCell(r.cost_usd, r.responses_without_tokens, r.responses), num: true, sort: "cost_usd" },
  ];

  /** Column heads that sort (a link: highest or newest first, then the other way round). */
  function sortLinks(table, ordering) {
    const heads = table.querySelectorAll("thead th");
    COLUMNS.forEach((c, i) => {
      if (!c.sort) return;
      const current = ordering.replace(/^-/, "") === c.sort ? (ordering.startsWith("-") ? "desc" : "asc") : null;
      const p = new URLSearchParams(location.search);
      p.delete("cursor");
      p.set("ordering", current === "desc" ? c.sort : "-" + c.sort);
      const arrow = current === "desc" ? " ↓" : current === "asc" ? " ↑" : "";
      heads[i].replaceChildren(el("a", { href: "?" + p.toString(), class: "sort" + (current ? " on" : ""),
                                        title: "Sort by " + c.label.toLowerCase() }, c.label + arrow));
    });
  }

  function render(figures) {
    // A live push carries the first page in the default order: a page further on, or in another order,
    // keeps what it shows.
    if (figures.cursor !== (params.get("cursor") || "") ||
        figures.ordering !== (params.get("ordering") || "-last_event_at")) return;
    const box = document.getElementById("sessions-table");
    const table = BP.table(COLUMNS, figures.sessions, "No sessions match these filters in this period.");
    table.classList.add("sessions");
    sortLinks(table, figures.ordering);
    box.replaceChildren(table);
    if (!figures.sessions.length && figures.first_page) {
      box.append(el("p", { class: "empty-state" }, "Sessions appear here once events come in: run ",
        el("code", {}, "blueplane install claude-code"), " for new ones, or ",
        el("code", {}, "blueplane import claude-code"), " for past ones. Or try a longer period."));
    }
    document.getElementById("sessions-count").textContent =
      figures.sessions.length ? `${figures.sessions.length} on this page` : "";
    const pager = document.getElementById("sessions-pager");
    pager.replaceChildren(...[
      figures.first_page ? el("span", { class: "muted" }, "First page") : el("a", { href: pageLink("") }, "« First"),
      figures.previous ? el("a", { href: pageLink(figures.previous), rel: "prev" }, "‹ Previous") : null,
      figures.next ? el("a", { href: pageLink(figures.next), rel: "next" }, "Next ›") : null,
    ].filter(Boolean));
  }

  // Changing a filter starts from the first page.
  const form = document.getElementById("session-filters");
  form.addEventListener("change", (ev) => { if (ev.target.tagName === "SELECT") form.requestSubmit(); });
  form.addEventListener("submit", () => {
    for (const input of form.querySelectorAll("input, select")) if (!input.value) input.disabled = true;
  });

  BP.page(render, { ordering: params.get("ordering") || "-last_event_at", cursor: params.get("cursor") || "" });
})();
