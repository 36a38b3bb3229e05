"""The daemons' HTTP endpoints: ``/metrics`` (Prometheus text), ``/healthz`` (the process serves) and
``/readyz`` (the callable says ready: watches synced, the batch system answered lately).

A small ``http.server`` in a thread: nothing a request carries is interpreted beyond its path.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from bridge.observability.metrics import Metrics

Ready = Callable[[], tuple[bool, str]]  # (ready, why not)


def serve(metrics: Metrics, ready: Ready, host: str = "0.0.0.0", port: int = 8080) -> ThreadingHTTPServer:
    """Start serving in a daemon thread; ``port`` 0 picks a free one (``server.server_port``)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._send(200, generate_latest(metrics.registry), CONTENT_TYPE_LATEST)
            elif path == "/healthz":
                self._send(200, b"ok\n")
            elif path == "/readyz":
                ok, why = ready()
                self._send(200 if ok else 503, b"ok\n" if ok else why.encode() + b"\n")
            else:
                self._send(404, b"not found\n")

        def _send(self, code: int, body: bytes, kind: str = "text/plain; charset=utf-8") -> None:
            self.send_response(code)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return None  # scrapes every few seconds would drown the daemon's log

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="http", daemon=True).start()
    return server
