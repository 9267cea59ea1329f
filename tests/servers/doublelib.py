"""What every test double in tests/servers shares (tests only; Python stdlib only).

- Threaded HTTP servers; the HTTPS one does the TLS handshake in the per-connection thread,
  so one slow or silent client cannot stall accept() for the others.
- A JSON request handler base: no request log (request lines carry tokens), JSON replies,
  bodies read with a size cap.
- Port files and private files written the way the tests read them (atomic rename, 0600).
- `run()`: start the servers, write the port files (the API's last: tests wait on it),
  serve until SIGTERM/SIGINT, an admin shutdown or a bounded lifetime, then stop.
- The cloud doubles' shape (an HTTPS API, a plain metadata endpoint, a plain admin plane):
  `cloud_args()`, `AdminCommands` and `serve_cloud()`.
- `DoubleTestCase`, the base of the self-tests: a throwaway CA, the double started and
  stopped, requests with JSON replies; `selftest_main()`.
"""

import argparse
import http.client
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

HERE = os.path.dirname(os.path.abspath(__file__))

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


class AdminJsonHandler(BaseHTTPRequestHandler):
    """Base of the vault and aws doubles' admin planes (plain HTTP, tests only): no request
    log, replies as JSON with sorted keys and a newline."""

    protocol_version = "HTTP/1.1"
    timeout = 15

    def log_message(self, fmt, *args):
        pass

    def _send(self, status: int, body) -> None:
        raw = (json.dumps(body, sort_keys=True) + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)


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


# ----- the cloud doubles (azure_double.py, gcp_double.py) ----------------------------------


def cloud_args(description: str, aux: str) -> argparse.ArgumentParser:
    """The options every cloud double takes; aux names its metadata endpoint's options
    (--AUX-port, --AUX-port-file). The double adds its own."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--seed", required=True)
    ap.add_argument("--tls-dir", required=True, help="made by make_ca.sh")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument(f"--{aux}-port", type=int, default=0)
    ap.add_argument(f"--{aux}-port-file")
    ap.add_argument("--admin-port", type=int, default=0)
    ap.add_argument("--admin-port-file")
    ap.add_argument("--max-seconds", type=float, default=120.0)
    return ap


class AdminCommands:
    """Mixed into a cloud double's admin handler (before its JsonHandler): the JSON body,
    the commands every double has (/admin/fault, /admin/clear-faults, /admin/revoke-tokens,
    /admin/reset-counts, /admin/shutdown) and the double's own (admin_post: True when it
    answered), all under the state's lock. The state has faults, tokens, counts and lock."""

    st = None
    stop: threading.Event = None

    def admin_post(self, path: str, body: dict) -> bool:
        return False

    def do_POST(self):
        st = self.st
        try:
            body = json.loads(self.body() or b"{}")
        except ValueError:
            return self.reply(400, {"error": "bad json"})
        path = urlsplit(self.path).path
        with st.lock:
            if self.admin_post(path, body):
                return None
            if path == "/admin/fault":
                st.faults.append(body)
                return self.reply(200, {})
            if path == "/admin/clear-faults":
                st.faults = []
                return self.reply(200, {})
            if path == "/admin/revoke-tokens":
                st.tokens = {}
                return self.reply(200, {})
            if path == "/admin/reset-counts":
                st.counts = {}
                return self.reply(200, {})
            if path == "/admin/shutdown":
                self.reply(200, {})
                self.stop.set()
                return None
        return self.reply(404, {})


def serve_cloud(name: str, args, st, api, aux, admin, aux_label: str, aux_port: int,
                aux_port_file: str | None, ready) -> int:
    """Serve a cloud double: api (HTTPS), aux (its metadata endpoint) and admin handler
    classes, each given the state st; ready(api_port) runs once the ports are bound (the
    double writes the credentials that name them), then run() serves until stopped."""
    stop = threading.Event()
    api_cls = type(api.__name__, (api,), {"st": st})
    aux_cls = type(aux.__name__, (aux,), {"st": st})
    admin_cls = type(admin.__name__, (admin,), {"st": st, "stop": stop})
    api_srv = TLSThreadingServer(("127.0.0.1", args.port), api_cls, tls_dir_context(args.tls_dir))
    aux_srv = PlainThreadingServer(("127.0.0.1", aux_port), aux_cls)
    admin_srv = PlainThreadingServer(("127.0.0.1", args.admin_port), admin_cls)
    ready(api_srv.server_address[1])
    return run(name, [("admin", admin_srv, args.admin_port_file),
                      (aux_label, aux_srv, aux_port_file),
                      ("api", api_srv, args.port_file)], args.max_seconds, stop)


# ----- the self-tests ----------------------------------------------------------------------


class DoubleTestCase(unittest.TestCase):
    """Base of the doubles' self-tests. setUpClass calls make_tls() and start_double();
    tearDownClass stops the double (SIGTERM, then SIGKILL) and removes the directory."""

    proc = None
    tmp = None
    tls = None
    ctx = None
    port = None

    @classmethod
    def make_tls(cls, prefix: str) -> str:
        """A fresh directory with a throwaway CA and server/client certificates in tls/."""
        cls.tmp = tempfile.mkdtemp(prefix=prefix)
        cls.tls = os.path.join(cls.tmp, "tls")
        subprocess.run(["sh", os.path.join(HERE, "make_ca.sh"), cls.tls], check=True,
                       timeout=30, capture_output=True)
        cls.ctx = ssl.create_default_context(cafile=os.path.join(cls.tls, "ca.crt"))
        return cls.tls

    @classmethod
    def write_seed(cls, seed: dict) -> str:
        path = os.path.join(cls.tmp, "seed.json")
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(seed, fh)
        return path

    @classmethod
    def start_double(cls, script: str, args: list, port_files: list,
                     seconds: float = 20) -> list:
        """Run tests/servers/SCRIPT with args; wait (at most seconds) for every port file;
        the ports, in the order of port_files."""
        cls.proc = subprocess.Popen([sys.executable, os.path.join(HERE, script)] + args)
        deadline = time.monotonic() + seconds
        while not all(os.path.exists(f) for f in port_files):
            if cls.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{script} did not start")
            time.sleep(0.05)
        ports = []
        for f in port_files:
            with open(f, encoding="ascii") as fh:
                ports.append(int(fh.read()))
        return ports

    @classmethod
    def tearDownClass(cls):
        if cls.proc is not None and cls.proc.poll() is None:
            cls.proc.send_signal(signal.SIGTERM)
            try:
                cls.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                cls.proc.kill()
                cls.proc.wait(timeout=5)
        if cls.tmp:
            shutil.rmtree(cls.tmp, ignore_errors=True)

    def request(self, method: str, path: str, body=None, headers=None, port=None, tls=True,
                ctx=None):
        """(status, the reply as JSON, or its bytes when it is not JSON (b"" when empty), the
        response)."""
        if tls:
            c = http.client.HTTPSConnection("127.0.0.1", port or self.port,
                                            context=ctx or self.ctx, timeout=10)
        else:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            data = r.read()
        finally:
            c.close()
        try:
            return r.status, json.loads(data), r
        except ValueError:
            return r.status, data, r


def selftest_main() -> int:
    """Run the module's tests; exit 77 (skip) without openssl, unless LOCKBOX_MUST_WORK=1."""
    if shutil.which("openssl") is None:
        print("openssl not found", file=sys.stderr)
        return 1 if os.environ.get("LOCKBOX_MUST_WORK") == "1" else 77
    prog = unittest.main(exit=False, verbosity=2)
    return 0 if prog.result.wasSuccessful() else 1
