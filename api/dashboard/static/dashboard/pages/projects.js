// The projects and models page: draws its figures (see dashboard.js, BP.page; api/dashboard/pages/projects.py).
(function () {
  "use strict";
  const BP = window.BP;

  function render(fig, how) {
    const sum = (rows, k) => rows.reduce((a, r) => a + Number(r[k]), 0);
    const values = {
      cost_usd: sum(fig.projects, "cost_usd"), tokens: sum(fig.projects, "tokens"), messages: sum(fig.projects, "messages"),
      sessions: fig.sessions, project_count: fig.projects.length, model_count: fig.models.length,
    };
    // Tokens Cursor did not record are missing, not 0 (BP.tokensCell).
    const missing = sum(fig.projects, "responses_without_tokens");
    if (missing) delete values.tokens;
    BP.fill(document, values);
    if (missing) BP.tokensFill(document.querySelector("[data-figure=tokens]"), sum(fig.projects, "tokens"), missing, values.messages);
    BP.spanNote(fig.span);
    const labels = fig.labels.map((l) => BP.bucketLabel(fig.unit, l));
    const colours = BP.rankedColours(fig.by_project.cost.map((s) => s.key));
    const projectColour = (s) => colours[s.key] || BP.OTHER_COLOUR;
    BP.stackedBars("card-project-cost", labels, fig.by_project.cost, "usd", projectColour);
    BP.stackedBars("card-project-tokens", labels, fig.by_project.tokens, "tokens", projectColour);
    const modelColour = (s) => (s.name === "other" ? BP.OTHER_COLOUR : BP.color(s.name));
    BP.stackedBars("card-model-cost", labels, fig.by_model.cost, "usd", modelColour);
    BP.stackedBars("card-model-tokens", labels, fig.by_model.tokens, "tokens", modelColour);
    tableDraw("projects-table", fig.projects, {
      key: "project", label: "Project",
      format: (v, r) => BP.el("a", { href: "/projects/" + BP.filterQuery({ project: r.project_key }), title: v },
        BP.el("span", { class: "dot", style: "background:" + (colours[r.project_key] || BP.OTHER_COLOUR) }), v || "(unknown)"),
    });
    tableDraw("models-table", fig.models, {
      key: "model", label: "Model",
      format: (v) => BP.el("a", { href: "/projects/" + BP.filterQuery({ model: v === "(unknown)" ? "" : v }), title: v }, BP.modelCell(v)),
    });
    if (how && how.initial) BP.unflash();
  }

  function tableDraw(id, rows, first) {
    const max = Math.max(0, ...rows.map((r) => Number(r.cost_usd)));
    const columns = [
      first,
      { key: "sessions", label: "Sessions", num: true, format: "int" },
      { key: "messages", label: "Responses", num: true, format: "int" },
      { key: (r) => BP.tokensCell(r.input_tokens, r.responses_without_tokens, r.messages), label: "Input", num: true },
      { key: (r) => BP.tokensCell(r.output_tokens, r.responses_without_tokens, r.messages), label: "Output", num: true },
      { key: (r) => BP.tokensCell(r.cache_write_tokens, r.responses_without_tokens, r.messages), label: "Cache write", num: true },
      { key: (r) => BP.tokensCell(r.cache_read_tokens, r.responses_without_tokens, r.messages), label: "Cache read", num: true },
      { key: (r) => BP.tokensCell(r.tokens, r.responses_without_tokens, r.messages), label: "Tokens", num: true },
      { key: "cost_usd", label: "Cost", num: true, format: (v) => BP.barCell(BP.fmt.usd(v), Number(v), max) },
    ];
    document.getElementById(id).replaceChildren(BP.table(columns, rows, "No usage for these filters in this period."));
  }

  BP.page(render);
})();
