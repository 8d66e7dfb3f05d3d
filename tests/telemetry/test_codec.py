import pytest

from telemetry.store.codec import CURRENT, CorruptUnit


def test_unit_round_trips_events_in_order():
    events = [b'{"a":1}', b"", b'{"b":"\\n"}' * 50]
    assert CURRENT.unpack(CURRENT.pack(events)) == events


def test_damaged_unit_is_reported():
    blob = bytearray(CURRENT.pack([b'{"a":1}']))
    blob[-3] ^= 0xFF
    with pytest.raises(CorruptUnit):
        CURRENT.unpack(bytes(blob))
