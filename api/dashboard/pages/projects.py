"""The projects and models page's figures: usage and cost per project and per model over time (stacked
per local day, or week or month on a long span) and a table of each, for the page's platform, project
(by key) and model filters. Usage from the hourly usage rollup (selectors.usage, as /api/v1/usage/
?group=project|model sums it), sessions as /api/v1/sessions/ lists them."""

from telemetry.selectors import ai_lines_pages, derived, sessions, usage

from ..filters import PLATFORMS, PageFilters
from .usage_charts import buckets, model_name, ranked, scope, stacked, tokens, totals_json

CHART_GROUPS = 8  # projects or models drawn apart in a chart; the rest are "other"


def figures(filters: PageFilters) -> dict:
    days = filters.days()
    where = scope(filters)
    daily = usage.usage_by_day(start=days.since, end=days.until, tz=days.tz, by=("model", "project"), **where)
    # Responses whose tokens Cursor did not record: their tokens are shown as missing, not as 0.
    missing = ai_lines_pages.responses_without_tokens_by_day(
        start=days.since, end=days.until, tz=days.tz, **where
    )
    if filters.model:
        daily = [r for r in daily if r["model"] == filters.model]
        missing = [r for r in missing if r["model"] == filters.model]
    missing_by_project = ai_lines_pages.responses_without_tokens_sum(
        missing, since=days.since, until=days.until, by="project_key"
    )
    missing_by_model = ai_lines_pages.responses_without_tokens_sum(
        [{**r, "model": model_name(r)} for r in missing], since=days.since, until=days.until, by="model"
    )
    counts = sessions.session_counts(start=days.start, end=days.end, model=filters.model or None, **where)
    unit, labels, bucket = buckets(days, daily)
    by_projects = ranked(daily, lambda r: r["project_key"])
    by_models = ranked(daily, model_name)
    project_keys = [key for key, _, _ in by_projects]
    model_names = [name for name, _, _ in by_models]
    names = {key: row["project"] for key, _, row in by_projects}

    def series(group_of, order: list[str], value) -> list[dict]:
        return stacked(
            daily, labels=labels, bucket_of=lambda r: bucket(r["day"]), group_of=group_of, value=value,
            order=order[:CHART_GROUPS],
        )  # fmt: skip

    cost, toks = (lambda r: r["cost_usd"]), tokens
    by_project = {
        "cost": _named(series(lambda r: r["project_key"], project_keys, cost), names),
        "tokens": _named(series(lambda r: r["project_key"], project_keys, toks), names),
    }
    by_model = {
        "cost": series(model_name, model_names, cost),
        "tokens": series(model_name, model_names, toks),
    }
    return {
        "span": {"since": days.since.isoformat(), "until": days.until.isoformat(), "tz": days.tz},
        "unit": unit,
        "labels": labels,
        "by_project": by_project,
        "by_model": by_model,
        "projects": [
            {
                "project": row["project"],
                "project_key": key,
                **totals_json(sums),
                "responses_without_tokens": missing_by_project.get(key, 0),
                "sessions": counts["by_project"].get(key, 0),
            }
            for key, sums, row in by_projects
        ],
        "models": [
            {
                "model": name,
                **totals_json(sums),
                "responses_without_tokens": missing_by_model.get(name, 0),
                "sessions": counts["by_model"].get(name, 0),
            }
            for name, sums, _ in by_models
        ],
        "sessions": counts["total"],
        "options": {
            "platforms": list(PLATFORMS),
            "projects": [{"key": p.key, "name": p.name} for p in derived.project_list().only("key", "name")],
            "models": derived.model_names(),
        },
    }


def _named(series: list[dict], names: dict[str, str]) -> list[dict]:
    """Project series named for people (a project's folder name), keeping the key for links."""
    return [{**s, "key": s["name"], "name": names.get(s["name"], s["name"])} for s in series]
