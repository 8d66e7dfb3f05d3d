"""The models, by what they hold: raw.py (the raw store and each session's watermark), derived.py (what
the slow path derives), rollups.py (hourly sums). Imported from here: `from telemetry.models import Session`."""

from .derived import (
    AiCodeLine,
    AiCommit,
    ChangeStatus,
    CodeChange,
    Conversation,
    DataIssue,
    MetricPoint,
    MetricTemporality,
    OtelSequence,
    Project,
    Session,
    SessionStatus,
    ToolCall,
    ToolStatus,
    Turn,
    TurnKind,
)
from .raw import (
    RAW_TRACE_MODELS,
    ClaudeRawTrace,
    CursorRawTrace,
    RawChunk,
    RawCodec,
    RawTrace,
    SessionProgress,
)
from .rollups import (
    ActivityHour,
    ToolHour,
    UsageHour,
)

__all__ = [
    "RAW_TRACE_MODELS",
    "ActivityHour",
    "AiCodeLine",
    "AiCommit",
    "ChangeStatus",
    "ClaudeRawTrace",
    "CodeChange",
    "Conversation",
    "CursorRawTrace",
    "DataIssue",
    "MetricPoint",
    "MetricTemporality",
    "OtelSequence",
    "Project",
    "RawChunk",
    "RawCodec",
    "RawTrace",
    "Session",
    "SessionProgress",
    "SessionStatus",
    "ToolCall",
    "ToolHour",
    "ToolStatus",
    "Turn",
    "TurnKind",
    "UsageHour",
]
