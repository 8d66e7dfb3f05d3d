"""The long-running capture process behind `manage.py runcapture`: tail transcripts, replay the spool.

Both steps are at-least-once and idempotent in the store, so a crash or a restart anywhere repeats
work and never loses it.
"""

from dataclasses import dataclass

import redis
from django.conf import settings

from ..connections import redis_client
from ..wire import EVENTS_STREAM
from .runtime import home, offsets_path, privacy_get
from .spool import spool_replay
from .tailer import Tailer


@dataclass
class CaptureLoop:
    tailer: Tailer
    client: redis.Redis
    home: str
    spool_settle_s: float = 2.0

    @classmethod
    def from_settings(cls) -> "CaptureLoop":
        client = redis_client()
        tailer = Tailer(
            root=str(settings.CLAUDE_PROJECTS_DIR),
            client=client,
            offsets_path=offsets_path(),
            privacy=privacy_get(),
        )
        return cls(tailer=tailer, client=client, home=str(home()))

    def run_once(self) -> int:
        """One pass: replay the spool, then send new transcript lines. Returns events sent; 0 means idle."""
        replayed = spool_replay(self.client, self.home, stream=EVENTS_STREAM, settle_s=self.spool_settle_s)
        return replayed + self.tailer.poll()
