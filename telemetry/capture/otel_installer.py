"""`blueplane install|uninstall claude-code --otel`: Claude Code's OpenTelemetry export switched on and
pointed at Blueplane's receiver, through the `env` of Claude Code's settings.json, and taken out again.

Rules:
- Only the variables of otel_env(); never OTEL_LOG_USER_PROMPTS / OTEL_LOG_TOOL_DETAILS (they put
  prompts and tool inputs into the export; the receiver would drop them anyway unless content is kept).
- A variable the user set to another value is theirs: left alone, with a one-line note.
- What install added (name and value) is remembered in $BLUEPLANE_HOME/capture/claude-otel-env.json;
  uninstall removes a variable only when it still has the value we gave it. A variable that already had
  our value before install stays after uninstall: the user had set it.
- Pure functions over dicts here; commands.py does the file I/O, backups and printing.
"""

# Export intervals in ms: Claude Code also exports once at exit, so these only matter to long sessions,
# which then show in Blueplane within seconds (its defaults are 60 s for metrics, 5 s for the rest).
METRIC_INTERVAL_MS = 10_000
LOGS_INTERVAL_MS = 5_000
TRACES_INTERVAL_MS = 5_000
# Never set by us: they put content into the export.
CONTENT_VARIABLES = ("OTEL_LOG_USER_PROMPTS", "OTEL_LOG_TOOL_DETAILS", "OTEL_LOG_ASSISTANT_RESPONSES")


def otel_env(*, endpoint: str) -> dict[str, str]:
    """The variables that make Claude Code export metrics, log events and traces to `endpoint`."""
    return {
        "CLAUDE_CODE_ENABLE_TELEMETRY": "1",
        "OTEL_METRICS_EXPORTER": "otlp",
        "OTEL_LOGS_EXPORTER": "otlp",
        "OTEL_TRACES_EXPORTER": "otlp",
        # Without it Claude Code (2.1.331) builds no trace exporter; logs and metrics are the same.
        "CLAUDE_CODE_ENHANCED_TELEMETRY_BETA": "1",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",  # ~3x smaller than http/json
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,  # the CLI appends /v1/logs, /v1/metrics, /v1/traces
        "OTEL_METRIC_EXPORT_INTERVAL": str(METRIC_INTERVAL_MS),
        "OTEL_LOGS_EXPORT_INTERVAL": str(LOGS_INTERVAL_MS),
        "OTEL_TRACES_EXPORT_INTERVAL": str(TRACES_INTERVAL_MS),
    }


class EnvError(ValueError):
    """The settings' `env` is not an object: nothing can be merged into it."""


def _env_of(data: dict) -> dict:
    env = data.get("env", {})
    if not isinstance(env, dict):
        raise EnvError("its `env` is not an object")
    return env


def settings_otel_install(
    data: dict, *, wanted: dict[str, str], added: dict[str, str]
) -> tuple[dict, dict[str, str], list[str]]:
    """(the settings with our variables, what we added now or still own, one note per variable of the
    user's left alone). `added` is what an earlier install added: a variable still holding that value is
    ours and may be updated (a new port)."""
    env = dict(_env_of(data))
    owned: dict[str, str] = {}
    notes = []
    for name, value in wanted.items():
        current = env.get(name)
        if current is None or (name in added and current == added[name]):
            env[name] = value
            owned[name] = value
        elif current == value:
            pass  # the user's own, with our value already: theirs, kept at uninstall too
        else:
            notes.append(
                f"env {name}={str(current)[:80]!r} is yours: left as it is (Blueplane would set {value!r})"
            )
    return ({**data, "env": env} if env != data.get("env") else data), owned, notes


def settings_otel_uninstall(data: dict, *, added: dict[str, str]) -> dict:
    """The settings without the variables we added that still hold our value; an `env` left empty goes."""
    env = _env_of(data)
    kept = {name: value for name, value in env.items() if not (name in added and value == added[name])}
    if kept == env:
        return data
    updated = dict(data)
    if kept:
        updated["env"] = kept
    else:
        del updated["env"]
    return updated


def settings_has_otel(data: dict, *, added: dict[str, str]) -> bool:
    env = data.get("env")
    return isinstance(env, dict) and any(env.get(name) == value for name, value in added.items())
