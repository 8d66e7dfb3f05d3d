"""A connection's bounded outbox: what waits to be written to one client.

The channel layer's receive loop only puts messages here (never awaiting the socket), and the
connection's writer task takes them out and sends them at the pace the client reads. When a client
falls behind by more than the outbox holds, its backlog is dropped and the writer's next take says
BEHIND: it sends a fresh snapshot instead. So a slow client costs at most `size` messages and
`max_chars` characters of memory, and never delays the slow path, the relay, or any other client."""

import asyncio
from collections import deque

# A client this many messages behind gets a snapshot instead: live pages need the newest figures, not
# every step to them, and the relay sends one message per batch (a few per second under load).
DEFAULT_SIZE = 64
# And at most this much text: a message can be large (a batch of hundreds of events), and every
# connection holds its own copy of what the channel layer delivered.
DEFAULT_MAX_CHARS = 1024 * 1024


class Behind:
    """The writer's cue to send a fresh snapshot (the backlog was dropped)."""

    def __repr__(self) -> str:
        return "BEHIND"


BEHIND = Behind()


class Outbox:
    def __init__(self, size: int = DEFAULT_SIZE, max_chars: int = DEFAULT_MAX_CHARS) -> None:
        self.size = size
        self.max_chars = max_chars
        self._chars = 0
        self._items: deque[str] = deque()
        self._behind = False
        self._ready = asyncio.Event()
        self.dropped = 0  # messages dropped by overflows, for tests and logs

    def put(self, text: str) -> bool:
        """Queue a message. Returns False when it was not queued: the client is behind (the backlog,
        this message with it, is replaced by a snapshot)."""
        if self._behind:
            self.dropped += 1
            return False
        if len(self._items) >= self.size or self._chars + len(text) > self.max_chars:
            self.dropped += len(self._items) + 1
            self.behind()
            return False
        self._items.append(text)
        self._chars += len(text)
        self._ready.set()
        return True

    def behind(self) -> None:
        """Drop the backlog; the next take() is BEHIND."""
        self._items.clear()
        self._chars = 0
        self._behind = True
        self._ready.set()

    def __len__(self) -> int:
        return len(self._items)

    async def take(self) -> str | Behind:
        """The next message, BEHIND when a snapshot is due, waiting until there is one."""
        await self._ready.wait()
        if self._behind:
            self._behind = False
            item: str | Behind = BEHIND
        else:
            item = self._items.popleft()
            self._chars -= len(item)
        if not self._items and not self._behind:
            self._ready.clear()
        return item
