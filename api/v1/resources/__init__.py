"""Sessions and their derived rows (conversations, turns, tool calls, code changes), projects, models."""
