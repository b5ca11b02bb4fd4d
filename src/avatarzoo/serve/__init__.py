"""`avatarzoo serve`: live avatars behind an ASGI app (protocol.py: the messages,
sessions.py: one live session per WebSocket with its limits, batch.py: renders shared
and batched across sessions, app.py: the Starlette app and the page in static/).
Nothing here is imported by `import avatarzoo`."""
