"""The real WSGI application on a real socket (127.0.0.1:<free port>), in a thread, for HTTP clients
that are not a browser (the fake partner's award sender, simulate_purchases). Requests carry the
brand's host in a `Host` header. Rows the server must see are committed by the caller
(tests/support/committed.py) and removed after."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from wsgiref.simple_server import WSGIRequestHandler, make_server

from django.core.wsgi import get_wsgi_application
from django.db import connections


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        return


@contextlib.contextmanager
def live_wsgi_server(test_database: str) -> Iterator[str]:
    """Yields `http://127.0.0.1:<port>`; one request at a time, on the test database."""
    server = make_server("127.0.0.1", 0, get_wsgi_application(), handler_class=_QuietHandler)

    def serve() -> None:
        connections["default"].settings_dict["NAME"] = test_database
        try:
            server.serve_forever(poll_interval=0.05)
        finally:
            connections.close_all()

    thread = threading.Thread(target=serve, name="live-wsgi", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
