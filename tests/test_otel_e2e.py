"""Claude Code's OpenTelemetry export with real processes: the claude-otel fixture's transcripts, hooks
and OTLP records on the stream, `runfastpath` and a Celery worker as subprocesses (as `blueplane up`
runs them), then the rows must hold the ledger (the /compact call only through OTel) and equal a clean
`rebuild` from the same raw traces."""

import orjson
import pytest

from telemetry.models import MetricPoint, Session, Turn
from telemetry.wire import EVENTS_STREAM
from tests.support.otel_sources import hook_envelopes, otel_envelopes, transcript_envelopes
from tests.telemetry.processing.test_rebuild import assert_same
from tests.test_slowpath_e2e import (
    all_caught_up,
    clean_rebuild_dump,
    fastpath,
    live_dump,
    raw_count,
    running,
    wait_for,
    worker,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]

COMPACT = "req_01DVX0dnsA9grOhO1VQC0Qd8"


def test_three_sources_through_real_processes_equal_a_rebuild(redis):
    events = otel_envelopes() + transcript_envelopes() + hook_envelopes()
    distinct = len({e["event_id"] for e in events})
    with running(worker("otel"), fastpath()) as procs:
        pipe = redis.pipeline(transaction=False)
        for envelope in events:
            pipe.xadd(EVENTS_STREAM, {"event": orjson.dumps(envelope)})
        pipe.execute()
        wait_for(lambda: raw_count() == distinct, "raw rows", procs)
        wait_for(all_caught_up, "derived rows", procs)
    compact = Turn.objects.get(request_id=COMPACT)
    assert (compact.source, compact.output_tokens) == ("otel", 49)
    assert Turn.objects.filter(kind="assistant_response", source="both").count() == 43
    assert MetricPoint.objects.exists() and Session.objects.count() == 13
    live = live_dump()
    assert_same(live, clean_rebuild_dump())
