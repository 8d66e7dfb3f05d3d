"""Layer 2 fast path: Redis Stream -> compressed raw traces in SQLite, at least once, never twice."""
