"""The MCP server through which an assistant reads its own telemetry (the official `mcp` SDK).

server.py builds it; tools.py and resources.py hold what it offers, each answering as the REST API answers
the same question (the same selectors, parameter serializers and row builders, so the same JSON);
pages.py pages lists by keyset; http.py serves it at /mcp on the web server (`blueplane mcp` serves it
over stdio)."""
