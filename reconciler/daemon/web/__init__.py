"""Daemon stage: the HTTP side of the daemon as an ASGI application (starlette).

`app.py` builds the application (operations endpoints, JSON API, status page);
`framing.py` is the ASGI middleware that refuses request bodies whose end is
unknown or too far (411/400/413) before any endpoint sees them. The server that
runs it (uvicorn, with a request-receipt deadline) is `reconciler.daemon.listener`.
"""
