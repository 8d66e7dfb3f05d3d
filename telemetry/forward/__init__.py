"""Forwarding this machine's events to a team server (docs/team.md, "Developer machines").

team.py: the connection ($BLUEPLANE_HOME/team.json) and the salt swap; levels.py: what leaves the
machine at each level (pure); batches.py: batches and the durable cursor (pure but for the cursor's
file); client.py: the HTTP calls; connect.py: `blueplane connect` / `disconnect`; forwarder.py: the
loop `manage.py runforward` runs. It reads the store (telemetry.store) and imports nothing above it.
"""
