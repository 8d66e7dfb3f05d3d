"""What a catch-up recomputes from a Cursor session's stored rows (recompute.py calls it): hook reports
joined onto the calls and responses Cursor recorded, the tokens each response counts, and the
composer's own line totals.

Functions of the stored rows, so running them again changes nothing and the rows do not depend on the
order events arrived in (catchup.py says the guarantee); they run inside the catch-up's transaction.
"""

from datetime import UTC, datetime
from decimal import Decimal

from ..models import CodeChange, Conversation, Session, ToolCall, Turn, TurnKind
from .bounds import COST_MAX
from .cursor_rows import revision_time_ms
from .pricing import cursor_price_find, price_apply
from .rollups import hour_floor
from .rows import CHANGES, TOOLS, Touched, row_update

HOOK_KEY = "hook:"  # an id-less hook report of a tool call (cursor.py)
RESPONSE_KEY = "response:"  # the hooks' view of a generation's response (cursor.py)
BUBBLE_KEY = "bubble:"
REST_TOOL = "composer"  # the tool name of a composer's lines no edit reported
_STOP_KEYS = ("stop_input", "stop_output", "stop_cache_read", "stop_cache_write")
_COST_PLACES = Decimal("0.00000001")  # Turn.cost_usd's precision


def rest_key(conversation_id: str) -> str:
    return f"composer:{conversation_id}:rest"


def cursor_hooks_join(session: Session, touched: Touched) -> None:
    """An id-less hook report of a tool call (and its edit) is merged into the session's call of the
    same generation and target that has an id (the earliest, if several), and dropped; one with no such
    call stays (a conversation Cursor deleted, or a record not read yet)."""
    hooks = list(ToolCall.objects.filter(session=session, tool_use_id__startswith=HOOK_KEY))
    if not hooks:
        return
    calls = list(
        ToolCall.objects.filter(session=session, message_key__in={h.message_key for h in hooks})
        .exclude(tool_use_id__startswith=HOOK_KEY)
        .exclude(message_key="")
    )
    for hook in hooks:
        partner = _earliest(
            c for c in calls if c.message_key == hook.message_key and c.target_hash == hook.target_hash
        )
        if partner is None and hook.tool_name.startswith("mcp_"):
            partner = _earliest(
                c for c in calls if c.message_key == hook.message_key and _same_mcp_tool(hook, c)
            )
        if partner is None:
            continue
        row_update(
            partner, TOOLS.to_values(TOOLS.merge(TOOLS.to_fact(partner), TOOLS.to_fact(hook))), touched
        )
        touched.add(hook.hour, hook.project_id)
        _change_move(session, hook.tool_use_id, partner.tool_use_id, touched)
        hook.delete()


def _earliest(calls) -> ToolCall | None:
    return min(calls, key=_call_order, default=None)


def _same_mcp_tool(hook: ToolCall, call: ToolCall) -> bool:
    """Whether a recorded MCP call (`mcp_<server>_<tool>`) is of the tool a hook reported (named
    `mcp_[<server>_]<tool>` by cursor.py): the hook knows the server only as well as its payload says
    (how it is launched, if at all), so its target can differ from the record's; the tool's own name is
    the same on both sides."""
    prefix = f"mcp_{hook.mcp_server}_" if hook.mcp_server else "mcp_"
    tool = hook.tool_name[len(prefix) :] if hook.tool_name.startswith(prefix) else ""
    return bool(tool and call.mcp_server) and call.tool_name.endswith("_" + tool)


def _call_order(row: ToolCall) -> tuple:
    moment = row.started_at or row.finished_at or datetime.max.replace(tzinfo=UTC)
    return (moment, row.tool_use_id)


def _change_move(session: Session, old_key: str, new_key: str, touched: Touched) -> None:
    change = CodeChange.objects.filter(session=session, key=old_key).first()
    if change is None:
        return
    target = CodeChange.objects.filter(session=session, key=new_key).first()
    if target is None:
        CodeChange.objects.filter(pk=change.pk).update(key=new_key)
        return
    row_update(
        target, CHANGES.to_values(CHANGES.merge(CHANGES.to_fact(target), CHANGES.to_fact(change))), touched
    )
    touched.add(change.hour, change.project_id)
    change.delete()


def cursor_responses_join(session: Session, touched: Touched) -> None:
    """The hooks' response of a generation (`response:<generation>`: afterAgentResponse, stop) belongs to
    the generation's last assistant text bubble (else its last bubble) once that is stored: the stop
    hook's tokens move into that bubble's detail (from any other bubble that held them before a later
    one arrived) and the response row is dropped. Then every response's token columns follow its detail (`_tokens`)."""
    rows = list(Turn.objects.filter(session=session, kind=TurnKind.ASSISTANT_RESPONSE))
    by_generation: dict[str, list[Turn]] = {}
    for row in rows:
        generation = (row.detail or {}).get("generation")
        if isinstance(generation, str):
            by_generation.setdefault(generation, []).append(row)
    dropped = set()
    for generation, turns in by_generation.items():
        bubbles = [t for t in turns if t.key.startswith(BUBBLE_KEY)]
        if not bubbles:
            continue
        # The last text bubble; a generation that ended without one (stopped during a tool call) has
        # its response in its last bubble, whatever it is, so the hooks' response is not a second one.
        target = max(
            bubbles, key=lambda t: (t.detail.get("text") == 1, _int(t.detail.get("position")), t.key)
        )
        stop = {}
        for turn in turns:
            for name in _STOP_KEYS:
                if isinstance(turn.detail.get(name), int):
                    stop[name] = max(stop.get(name, 0), turn.detail[name])
        for turn in turns:
            if turn.key == f"{RESPONSE_KEY}{generation}":
                touched.add(turn.hour, turn.project_id)
                turn.delete()
                dropped.add(turn.pk)
            elif turn is target:
                if stop and any(turn.detail.get(k) != v for k, v in stop.items()):
                    row_update(turn, {"detail": {**turn.detail, **stop}}, touched)
            elif any(k in turn.detail for k in _STOP_KEYS):
                row_update(turn, {"detail": {k: v for k, v in turn.detail.items() if k not in _STOP_KEYS}},
                           touched)  # fmt: skip
    for row in rows:
        if row.pk not in dropped and row.pk is not None:
            row_update(row, _tokens(row), touched)


def _int(value: object) -> int:
    return value if type(value) is int else -1


def _tokens(row: Turn) -> dict:
    """A response's token columns from its detail: the bubble's own figures when Cursor recorded them,
    else the stop hook's, else unknown (zeros with tokens_known False, never shown as zero)."""
    detail = row.detail or {}
    if detail.get("own_tokens") == 1:
        counts = (detail.get("own_input", 0), detail.get("own_output", 0), 0, 0)
    elif any(isinstance(detail.get(k), int) for k in _STOP_KEYS):
        counts = tuple(detail.get(k, 0) for k in _STOP_KEYS)
    elif "own_tokens" in detail or detail.get("generation"):
        counts = None
    else:
        return {}
    if counts is None:
        return {"input_tokens": 0, "output_tokens": 0, "cache_read_tokens": 0, "cache_write_tokens": 0,
                "tokens_known": False, "cost_usd": None, "price_table": ""}  # fmt: skip
    inp, out, cache_read, cache_write = (c if type(c) is int else 0 for c in counts)
    table, price = cursor_price_find(model=row.model)
    cost = None
    if price is not None:
        cost = price_apply(price=price, input_tokens=inp, output_tokens=out, cache_write_5m_tokens=cache_write,
                           cache_write_1h_tokens=0, cache_read_tokens=cache_read)  # fmt: skip
        cost = cost if cost <= COST_MAX else None
    return {
        "input_tokens": inp,
        "output_tokens": out,
        "cache_read_tokens": cache_read,
        "cache_write_tokens": cache_write,
        "tokens_known": True,
        "cost_usd": None if cost is None else cost.quantize(_COST_PLACES),
        "price_table": table.version if cost is not None else "",
    }


def cursor_composer_rest(session: Session, touched: Touched) -> None:
    """The session's lines are the composer's own totals when it recorded them: a change row
    `composer:<id>:rest` holds what no reported edit accounts for (never negative: edits that add up
    to more than the totals are counted as reported), so the session counters and the hourly rollups,
    both sums of changes, agree with Cursor's totals."""
    conversation = Conversation.objects.filter(session=session, conversation_id=session.session_id).first()
    key = rest_key(session.session_id)
    rest = CodeChange.objects.filter(session=session, key=key).first()
    wanted = None
    if conversation is not None and (
        conversation.lines_added is not None or conversation.lines_removed is not None
    ):
        reported = CodeChange.objects.filter(session=session, status="accepted").exclude(key=key)
        added = sum(reported.values_list("lines_added", flat=True))
        removed = sum(reported.values_list("lines_removed", flat=True))
        extra = (
            max(0, (conversation.lines_added or 0) - added),
            max(0, (conversation.lines_removed or 0) - removed),
        )
        if any(extra):
            ms = revision_time_ms(conversation.revision)
            moment = datetime.fromtimestamp(ms / 1000, tz=UTC) if ms else session.started_at
            wanted = {"lines_added": extra[0], "lines_removed": extra[1], "timestamp": moment,
                      "hour": hour_floor(moment), "tool_name": REST_TOOL}  # fmt: skip
    if wanted is None:
        if rest is not None:
            touched.add(rest.hour, rest.project_id)
            rest.delete()
    elif rest is None:
        CodeChange.objects.create(session=session, project_id=session.project_id, key=key, **wanted)
        touched.add(wanted["hour"], session.project_id)
    else:
        row_update(rest, wanted, touched)
