"""Events stored by the key-name filter of earlier versions (users have them) derive the same rows as
events captured now, alone or mixed, through the real fast path and catch-up."""

import orjson
import pytest

from telemetry.capture.privacy import Privacy
from tests.telemetry.processing.legacy_filter import KeyNamePrivacy, envelope_legacy
from tests.telemetry.processing.test_catchup import (
    SALT,
    _order_snapshot,
    hook_envelopes,
    transcript_envelopes,
)

pytestmark = pytest.mark.django_db


def test_events_stored_by_the_key_name_filter_give_the_same_rows(redis) -> None:
    whole = Privacy(SALT, store_content=True)
    old_filter = KeyNamePrivacy(SALT)
    legacy = [
        orjson.dumps(envelope_legacy(orjson.loads(e), privacy=old_filter))
        for e in hook_envelopes(whole) + transcript_envelopes(whole)
    ]
    now = hook_envelopes(Privacy(SALT)) + transcript_envelopes(Privacy(SALT))
    # Guards: the two really are the two formats, and the corpus has the facts compared.
    assert any(b'"structuredPatch":[{' in e for e in legacy) and not any(b'"facts":' in e for e in legacy)
    assert all(b'"facts":2' in e for e in now) and not any(b"structuredPatch" in e for e in now)
    reference = _order_snapshot(redis, now)
    assert len(reference["changes"]) > 10 and all(c[4] for c in reference["changes"])  # hashed paths
    assert any(t[2] == "subagent_run" and '"tool_uses"' in t[18] for t in reference["turns"])
    assert any(t[4] in ("rejected", "interrupted") for t in reference["tools"])

    assert _order_snapshot(redis, legacy) == reference
    # A database written across the upgrade: hooks of one format, transcript lines of the other.
    hooks = len(hook_envelopes(whole))
    assert _order_snapshot(redis, legacy[:hooks] + now[hooks:]) == reference
    assert _order_snapshot(redis, now[:hooks] + legacy[hooks:]) == reference
