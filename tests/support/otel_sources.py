"""The claude-otel fixture's three sources as envelopes (tests/support/otel.py has the raw data):
its transcripts, its hook calls and its OTLP exports, each built by the capture code that would build
them live, for tests that push them through the real pipeline in any order."""

import json

import orjson

from telemetry.capture.claude_events import hook_envelope
from telemetry.capture.otlp_records import otlp_envelopes
from telemetry.capture.privacy import Privacy
from telemetry.capture.transcripts import FileState, ProjectCache, file_events, transcript_files
from tests.support.otel import HOOK_CALLS, PROJECTS, otlp_requests

PRIVACY = Privacy(b"otel-ledger")


def transcript_envelopes(privacy: Privacy = PRIVACY) -> list[dict]:
    """Every line of the fixture's transcripts (the sub-agent's file too), as the importer sends them."""
    out: list[dict] = []
    projects = ProjectCache(privacy)
    for path in transcript_files(str(PROJECTS)):
        read = file_events(path, FileState(), privacy=privacy, projects=projects, final=True)
        out += [orjson.loads(raw) for raw in read.envelopes]
    return out


def hook_envelopes(privacy: Privacy = PRIVACY) -> list[dict]:
    """Every hook call of the fixture, as the hook would have sent it at its recorded time."""
    return [
        hook_envelope(json.dumps(call["payload"]).encode(), capture_ns=int(call["ts"] * 1e9), privacy=privacy)
        for call in HOOK_CALLS
    ]


def otel_envelopes(privacy: Privacy = PRIVACY) -> list[dict]:
    """Every record of the fixture's OTLP requests, in the order the receiver got them."""
    out: list[dict] = []
    for request in otlp_requests():
        signal = request["path"].rsplit("/", 1)[-1]
        capture_ns = int(request["ts"] * 1e9)
        out += otlp_envelopes(
            request["body"], signal=signal, privacy=privacy, capture_ns=capture_ns
        ).envelopes
    return out
