"""The Claude Code OpenTelemetry fixture (tests/fixtures/claude-otel, copied from a real run of the CLI:
its README says what is in it): the OTLP/HTTP requests the CLI sent, the hooks and transcripts of the
same 19 invocations, the API stub's replies, and `expected.json`, what a correct importer reproduces."""

import gzip
import json
from pathlib import Path

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "claude-otel"
EXPECTED = json.loads((FIXTURE / "expected.json").read_text())
HOOK_CALLS = [json.loads(line) for line in (FIXTURE / "hooks.jsonl").read_text().splitlines() if line]
PROJECTS = FIXTURE / "projects"
# Paths inside the data (transcript_path, cwd) use this home, which does not exist here.
DATA_HOME = "/home/dev/otel/home"


def otlp_requests() -> list[dict]:
    """Every recorded request, in the order the receiver got them: `{path, content_type, ts, body}`,
    `body` being the decoded OTLP/JSON document."""
    with gzip.open(FIXTURE / "otlp.jsonl.gz", "rt") as f:
        return [json.loads(line) for line in f if line.strip()]


def otlp_json_bytes(request: dict) -> bytes:
    """A request's body as the CLI sent it with OTEL_EXPORTER_OTLP_PROTOCOL=http/json."""
    return json.dumps(request["body"], separators=(",", ":")).encode()
