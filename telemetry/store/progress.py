"""Per-session bookkeeping of the slow path: which raw events are stored and which were applied."""

from django.db.models import Max

from ..models import RAW_TRACE_MODELS, SessionProgress
from .keys import session_key


def session_progress_record(*, platform: str, session_id: str) -> SessionProgress:
    """Record the highest raw seq stored for the session (its events waiting for the slow path).
    Recomputed from the raw table, so running it twice changes nothing."""
    model = RAW_TRACE_MODELS[platform]
    through = model.objects.filter(session_key=session_key(session_id)).aggregate(m=Max("seq"))["m"] or 0
    progress, created = SessionProgress.objects.get_or_create(
        platform=platform, session_id=session_id, defaults={"raw_through_seq": through}
    )
    if not created and progress.raw_through_seq < through:
        progress.raw_through_seq = through
        progress.save(update_fields=["raw_through_seq", "updated_at"])
    return progress
