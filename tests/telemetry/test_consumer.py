import pytest

from telemetry.ingest.consumer import StreamConsumer
from telemetry.ingest.streams import DLQ_STREAM, EVENTS_STREAM
from telemetry.models import ClaudeRawTrace
from tests.factories import entry, envelope

pytestmark = pytest.mark.django_db


def make_consumer(redis, name: str = "c1", **kw) -> StreamConsumer:
    return StreamConsumer(client=redis, consumer=name, flush_ms=20, **kw)


def drain(consumer: StreamConsumer) -> int:
    total = 0
    while handled := consumer.run_once():
        total += handled
    return total


def test_events_in_become_rows(redis):
    events = [envelope() for _ in range(250)]
    consumer = make_consumer(redis)
    for e in events:
        redis.xadd(EVENTS_STREAM, entry(e))
    assert drain(consumer) == 250
    assert ClaudeRawTrace.objects.count() == 250
    assert redis.xpending(EVENTS_STREAM, "fastpath")["pending"] == 0
    assert redis.xlen(DLQ_STREAM) == 0
