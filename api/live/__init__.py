"""The live feed: two WebSocket endpoints on the web server (Django Channels, the Redis pub/sub channel
layer over the same Redis, settings.CHANNEL_LAYERS).

Protocol (server to client; every message is one JSON object with a "type"):

/ws/events?session=&project=&platform=&limit=
  {"type": "snapshot", "events": [event, ...]}  on connect, and again whenever the client fell behind
                                                (its buffer overflowed): the newest `limit` (default 50)
                                                events that match, oldest first
  {"type": "events", "events": [event, ...]}    new events that match, as the fast path commits them
  event = {"event_id", "platform", "session_id", "project" (key, or null while unknown), "event_type",
           "timestamp" (ISO 8601, the event's own), "stored_at" (ISO 8601, when the fast path committed)}

/ws/metrics?page=<overview|sessions|session|tools|projects|pipeline>&<the page's filters>&session=<id>
  {"type": "snapshot", "page": page, "figures": {...}}  on connect, and after falling behind
  {"type": "figures", "page": page, "figures": {...}, "changed": {...}}  after a slow-path commit that
      changed what the page's figures are made of: figures are api.dashboard.pages' figures() for the
      same filters, whole (a page redraws from them); changed is what the slow path published
  {"type": "error", "message": "..."} then a close (code 4400) for filters the dashboard refuses
      (api.dashboard.filters), and 4401 for a client the access rule refuses (api.dashboard.access)

A slow client never delays another or the slow path: each connection has a bounded buffer, and a client
that falls behind gets a fresh snapshot instead of the backlog.
"""
