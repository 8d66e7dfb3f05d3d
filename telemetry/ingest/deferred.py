"""Redis commands sent now, their replies read later, so Redis works on them while this process works
on something else (the fast path stores or prepares the next batch meanwhile).

Redis runs a command once it has read it, whether or not anyone reads the reply: dropping the replies
(cancel) changes nothing about what ran. An error reply raises when the replies are read.
"""

import redis


class Deferred:
    """Commands sent in one write on a connection of their own; replies() reads them, in order."""

    def __init__(self, client: redis.Redis, commands: list[tuple]) -> None:
        self._pool = client.connection_pool
        self._conn = self._pool.get_connection()
        self._count = len(commands)
        try:
            self._conn.send_packed_command(self._conn.pack_commands(commands))
        except BaseException:
            self.cancel()
            raise

    def replies(self) -> list:
        try:
            return [self._conn.read_response() for _ in range(self._count)]
        except BaseException:
            self._conn.disconnect()  # replies left unread would be read by the connection's next user
            raise
        finally:
            self._pool.release(self._conn)

    def cancel(self) -> None:
        """Drop the connection with the replies unread."""
        self._conn.disconnect()
        self._pool.release(self._conn)
