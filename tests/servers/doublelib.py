"""What every test double in tests/servers shares (tests only; Python stdlib only).

- Threaded HTTP servers; the HTTPS one does the TLS handshake in the per-connection thread,
  so one slow or silent client cannot stall accept() for the others.
- A JSON request handler base: no request log (request lines carry tokens), JSON replies,
  bodies read with a size cap.
- Port files and private files written the way the tests read them (atomic rename, 0600).
- `run()`: start the servers, write the port files (the API's last: tests wait on it),
  serve until SIGTERM/SIGINT, an admin shutdown or a bounded lifetime, then stop.
"""

import json
import os
import signal
import ssl
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_BODY = 1 << 20


class PlainThreadingServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class TLSThreadingServer(PlainThreadingServer):
    """HTTPS; asks for (never requires) a client certificate when the context does."""

    def __init__(self, addr, handler, ssl_ctx: ssl.SSLContext):
        self.ssl_ctx = ssl_ctx
        super().__init__(addr, handler)

    def finish_request(self, request, client_address):
        request.settimeout(15)
        try:
            tls = self.ssl_ctx.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            request.close()
            return
        try:
            self.RequestHandlerClass(tls, client_address, self)
        finally:
            try:
                tls.close()
            except OSError:
                pass


def tls_context(cert: str, key: str, client_ca: str | None = None) -> ssl.SSLContext:
    """A TLS 1.2+ server context; with client_ca, client certificates are optional."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert, key)
    if client_ca:
        ctx.load_verify_locations(client_ca)
        ctx.verify_mode = ssl.CERT_OPTIONAL
    return ctx


def tls_dir_context(tls_dir: str) -> ssl.SSLContext:
    """The server context from a directory made by make_ca.sh."""
    return tls_context(os.path.join(tls_dir, "server.crt"), os.path.join(tls_dir, "server.key"))


class JsonHandler(BaseHTTPRequestHandler):
    """Base of the doubles' handlers: HTTP/1.1, JSON replies, no request log."""

    protocol_version = "HTTP/1.1"
    content_type = "application/json"

    def log_message(self, fmt, *args):  # request lines carry tokens: keep them out
        pass

    def reply(self, code: int, body, headers=None):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", self.content_type)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def body(self) -> bytes:
        n = int(self.headers.get("Content-Length") or 0)
        if n > MAX_BODY:
            raise ValueError("body too large")
        return self.rfile.read(n) if n else b""


def write_port_file(path: str | None, port: int) -> None:
    if not path:
        return
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w", encoding="ascii") as fh:
        fh.write(f"{port}\n")
    os.replace(tmp, path)


def write_private(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)


def run(name: str, servers, max_seconds: float, stop: threading.Event | None = None) -> int:
    """servers: [(label, server, port_file)], the API last (its port file is the one tests
    wait for). Serves until SIGTERM/SIGINT, stop is set, or max_seconds (1..3600) pass."""
    stop = stop or threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    for _, srv, _ in servers:
        srv.stop_event = stop
        threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.1},
                         daemon=True).start()
    for _, srv, port_file in servers:
        write_port_file(port_file, srv.server_address[1])
    where = " ".join(f"{label} {'https' if isinstance(srv, TLSThreadingServer) else 'http'}"
                     f"://127.0.0.1:{srv.server_address[1]}" for label, srv, _ in servers)
    sys.stderr.write(f"{name}: {where} pid {os.getpid()}\n")
    stop.wait(min(max(max_seconds, 1.0), 3600.0))
    for _, srv, _ in servers:
        srv.shutdown()
        srv.server_close()
    return 0
