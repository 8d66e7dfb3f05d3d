"""Loaded with `-p tests.environment` before Django settings are read: every test run gets its own
BLUEPLANE_HOME (database, embedded Redis, spool), never the user's ~/.blueplane."""

import os
import tempfile

# Short, so the embedded Redis's unix socket path stays under the 107-byte limit.
os.environ.setdefault("BLUEPLANE_HOME", tempfile.mkdtemp(prefix="bp-test-"))
# Claude Code's settings and transcripts too: no test may touch the user's ~/.claude.
os.environ.setdefault("CLAUDE_CONFIG_DIR", tempfile.mkdtemp(prefix="bp-claude-"))
