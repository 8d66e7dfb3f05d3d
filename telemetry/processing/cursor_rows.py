"""Applying Cursor's own records to their rows: a conversation's composer fields, AI-scored commits and
AI code lines. Each merge keeps the newest revision by a total order (or merges field by field), so the
rows do not depend on the order the revisions arrive in. Part of the catch-up (catchup.py says the
guarantee): everything here runs inside its transaction.
"""

from django.db.models import Q

from ..models import AiCodeLine, AiCommit, Conversation, Session
from .facts import (
    AI_COMMIT_COUNTS,
    AiCodeFact,
    AiCommitFact,
    ConversationFact,
    Reduced,
    ai_code_merge,
    ai_commit_merge,
)
from .rollups import hour_floor


def conversation_apply(conversation_pk: int, fact: ConversationFact) -> None:
    """The composer's fields from its newest revision (the stored one when that is newer)."""
    conversation = Conversation.objects.get(pk=conversation_pk)
    if conversation.revision and conversation.revision >= fact.revision:
        return
    conversation.revision = fact.revision
    conversation.archived = fact.archived
    conversation.mode = fact.mode
    conversation.title = fact.title
    conversation.lines_added = fact.lines_added
    conversation.lines_removed = fact.lines_removed
    conversation.save(update_fields=["revision", "archived", "mode", "title", "lines_added", "lines_removed"])


def revision_time_ms(revision: str) -> int | None:
    """The last-updated time (epoch ms) a conversation's revision names, if any."""
    head = revision.split(":", 1)[0]
    return int(head) if head.isdigit() else None


def ai_tracking_apply(reduced: Reduced, sessions: dict[str, Session]) -> None:
    for fact in (reduced.ai_commits[k] for k in sorted(reduced.ai_commits)):
        _commit_apply(fact)
    if reduced.ai_code:
        _code_apply([reduced.ai_code[k] for k in sorted(reduced.ai_code)], sessions)


def _commit_fact(row: AiCommit) -> AiCommitFact:
    return AiCommitFact(
        row.commit_hash,
        row.branch,
        row.scored_at,
        row.commit_date,
        tuple(getattr(row, name) for name in AI_COMMIT_COUNTS),
        row.v1_ai_percentage,
        row.v2_ai_percentage,
    )


def _commit_values(fact: AiCommitFact) -> dict:
    return {
        "scored_at": fact.scored_at,
        "hour": hour_floor(fact.scored_at),
        "commit_date": fact.commit_date,
        **dict(zip(AI_COMMIT_COUNTS, fact.counts, strict=True)),
        "v1_ai_percentage": fact.v1_ai_percentage,
        "v2_ai_percentage": fact.v2_ai_percentage,
    }


def _commit_apply(fact: AiCommitFact) -> None:
    """The newest scoring of a commit on a branch (AiCommitFact.order: a total order)."""
    row = AiCommit.objects.filter(commit_hash=fact.commit_hash, branch=fact.branch).first()
    if row is None:
        AiCommit.objects.create(commit_hash=fact.commit_hash, branch=fact.branch, **_commit_values(fact))
        return
    stored = _commit_fact(row)
    best = ai_commit_merge(stored, fact)
    if best.order != stored.order:
        AiCommit.objects.filter(pk=row.pk).update(**_commit_values(best))


def _code_apply(facts: list[AiCodeFact], sessions: dict[str, Session]) -> None:
    """Insert new AI code lines, merge the others field by field. A line's session is its conversation's
    (this catch-up's sessions hold it whenever the fact names one)."""
    stored = {row.hash: row for row in AiCodeLine.objects.filter(Q(hash__in=[f.hash for f in facts]))}
    pks = {s.pk: sid for sid, s in sessions.items()}
    new = []
    for fact in facts:
        row = stored.get(fact.hash)
        if row is not None:
            fact = ai_code_merge(
                AiCodeFact(row.hash, pks.get(row.session_id, ""), row.created_at, row.source, row.model,
                           row.file_extension, row.request_id),
                fact,
            )  # fmt: skip
        session = sessions.get(fact.session_id)
        values = {
            "session_id": session.pk
            if session is not None
            else (row.session_id if row is not None else None),
            "source": fact.source,
            "model": fact.model,
            "file_extension": fact.file_extension,
            "request_id": fact.request_id,
            "created_at": fact.created_at,
            "hour": hour_floor(fact.created_at),
        }
        if row is None:
            new.append(AiCodeLine(hash=fact.hash, **values))
        elif any(getattr(row, k) != v for k, v in values.items()):
            AiCodeLine.objects.filter(pk=row.pk).update(**values)
    AiCodeLine.objects.bulk_create(new, ignore_conflicts=True)
