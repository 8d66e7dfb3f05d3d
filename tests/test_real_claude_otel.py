"""The real Claude Code CLI exporting OpenTelemetry to Blueplane's receiver, with exactly the settings
`blueplane install claude-code --otel` writes (http/protobuf): logs, metrics and traces reach the stream.

Offline, against the claude-real API stub (tests/support/real_claude.py); skipped, saying why, when the
CLI is not installed (`npm install --prefix tests/support/claude-real`).
"""

import collections
import json
import uuid
from dataclasses import dataclass, field

import orjson
import pytest
from django.test import override_settings

from telemetry.capture import commands
from telemetry.capture.otlp_receiver import Receiver, Reply
from telemetry.capture.privacy import Privacy
from telemetry.wire import EVENTS_STREAM, OTLP_METRICS
from tests.support import real_claude
from tests.support.otlp_receiver import receiver_running

HARNESS, SKIP_REASON = real_claude.harness_find()
pytestmark = [pytest.mark.e2e]
if HARNESS is None:
    real_claude.unavailable(f"real Claude Code CLI unavailable: {SKIP_REASON}")

MARKER = "otter-basalt-4417"  # in the prompt only: must never reach Redis
PROMPT = f"[[scenario:files]] Create notes.txt with three lines, read it, change beta to BETA, then list the directory. {MARKER}"


@dataclass
class Recording(Receiver):
    """The receiver, noting the content type of every request it answered."""

    content_types: list[str] = field(default_factory=list)

    def export(
        self, *, path: str, content_type: str | None, content_encoding: str | None, body: bytes
    ) -> Reply:
        self.content_types.append(f"{path} {content_type}")
        return super().export(
            path=path, content_type=content_type, content_encoding=content_encoding, body=body
        )


def test_the_real_cli_exports_logs_metrics_and_traces_in_protobuf_to_the_receiver(redis, tmp_path):
    home = tmp_path / "home"
    (home / ".claude").mkdir(parents=True)
    settings_path = home / ".claude" / "settings.json"
    receiver = Recording(client=redis, home=str(tmp_path / "bp"), privacy=Privacy(b"real-otel-salt" * 2))
    with receiver_running(receiver) as server:
        with override_settings(
            BLUEPLANE_HOME=tmp_path / "bp", CLAUDE_SETTINGS_PATH=settings_path, OTLP_PORT=server.server_port
        ):
            assert commands.otel_install("claude-code", dry_run=False) == 0
        env = json.loads(settings_path.read_text())["env"]
        assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == f"http://127.0.0.1:{server.server_port}"
        with real_claude.stub_server(HARNESS, tmp_path / "stub") as url:
            run = real_claude.claude_run(
                HARNESS,
                home=home,
                cwd=real_claude.work_dir(tmp_path / "work"),
                base_url=url,
                prompt=PROMPT,
                session_id=str(uuid.uuid4()),
            )
            assert run.returncode == 0, run.stderr
            real_claude.settled(lambda: redis.xlen(EVENTS_STREAM), quiet_s=1.0, timeout_s=15.0, some=True)
    envelopes = [orjson.loads(fields[b"event"]) for _, fields in redis.xrange(EVENTS_STREAM)]
    by_signal = collections.Counter(e["payload"]["signal"] for e in envelopes)
    assert by_signal["log"] and by_signal["metric"] and by_signal["span"], by_signal
    assert {e["source"] for e in envelopes} == {"otel"}
    # Every request came as protobuf, the protocol install sets.
    assert receiver.content_types
    assert {c.split(" ", 1)[1] for c in receiver.content_types} == {"application/x-protobuf"}
    assert {c.split(" ", 1)[0] for c in receiver.content_types} == {"/v1/logs", "/v1/metrics", "/v1/traces"}
    # The API calls the stub answered are the api_request events, joined by request id.
    emitted = [json.loads(line) for line in (tmp_path / "stub" / "emitted.jsonl").read_text().splitlines()]
    stub_ids = {e["request_id"] for e in emitted if "message_id" in e}
    api_requests = [e for e in envelopes if e["event_type"] == "api_request"]
    assert stub_ids and {e["payload"]["attributes"]["request_id"] for e in api_requests} == stub_ids
    spans = {e["event_type"] for e in envelopes if e["payload"]["signal"] == "span"}
    assert {"claude_code.interaction", "claude_code.llm_request", "claude_code.tool"} <= spans
    assert "claude_code.token.usage" in {
        e["event_type"] for e in envelopes if e["payload"]["signal"] == "metric"
    }
    assert MARKER.encode() not in b"".join(fields[b"event"] for _, fields in redis.xrange(EVENTS_STREAM))
    counters = {k.decode(): int(v) for k, v in redis.hgetall(OTLP_METRICS).items()}
    assert sum(v for k, v in counters.items() if k.startswith("records:")) == len(envelopes)
