"""The live feed: two WebSocket endpoints on the web server (Django Channels, the Redis pub/sub channel
layer over the same Redis, settings.CHANNEL_LAYERS).

Protocol (server to client; every message is one JSON object with a "type"):

/ws/events?session=&project=&platform=&limit=
  {"type": "snapshot", "events": [event, ...]}  on connect, and again whenever the client fell behind
                                                (its buffer overflowed, or one batch was too big to
                                                relay, e.g. an import): the newest `limit` (default 50,
                                                at most 500) events that match, oldest first
  {"type": "events", "events": [event, ...]}    new events that match, as the fast path commits them
  event = {"event_id", "platform", "session_id", "project" (key, or null while unknown), "event_type",
           "timestamp" (ISO 8601, the event's own), "stored_at" (ISO 8601, when the fast path committed)}
  project= is a key or a folder name; a new session's events have project null until the slow path
  derived it (usually within a second), and a connection filtered by project gets those only in a
  later snapshot (relay.py)

/ws/metrics?page=<overview|sessions|session|tools|projects|pipeline>&<the page's filters>&session=<id>
  {"type": "snapshot", "page": page, "figures": {...}}  on connect, and after falling behind
  {"type": "figures", "page": page, "figures": {...}, "changed": {...}}  after a slow-path commit that
      changed what the page's figures are made of: figures are api.dashboard.pages' figures() for the
      same filters, whole (a page redraws from them); changed is what the slow path published
      ({"sessions": [[platform, id], ...], "hours": [...], "projects": [keys], "at": epoch}); the
      pipeline page's figures also come every ~1.5 s with changed {"timer": true}
  {"type": "error", "message": "..."} then a close (code 4400) for filters the dashboard refuses
      (api.dashboard.filters), and 4401 for a client the access rule refuses (api.dashboard.access)

Both endpoints (and any other path) accept, then send {"type": "error", "message"} and close with a code:
4400 bad filters or query, 4401 refused by the access rule, 4403 a person's token (the feeds are
install-wide, docs/team.md) or a browser page of another site (its
Origin is not one of ALLOWED_HOSTS), 4404 no such session (page=session) or no feed at that path, and
1013 (try again later) while the server cannot reach Redis, 1011 when the page's figures failed (the
server logs why).

A slow client never delays another or the slow path: each connection has a bounded buffer, and a client
that falls behind gets a fresh snapshot instead of the backlog. The feed is best effort: a client also
gets a fresh snapshot after the server lost Redis for a while (changes may have been missed), an event
may come again after a snapshot (key events by event_id), and nothing is replayed after a reconnect but
the snapshot.

- relay.py      in the web process: cdc:events and cdc:derived -> the Channels groups (one per endpoint)
- consumers.py  the two endpoints; outbox.py their bounded per-client buffers; figures.py one figures
                computation per (page, filters, change) shared by every connection of the process
- feed.py       plain functions: query, filters, matching, messages; access.py the handshake's access rule
"""
