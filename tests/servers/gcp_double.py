#!/usr/bin/env python3
"""gcp_double.py - a TEST DOUBLE of GCP Secret Manager, Google's OAuth token endpoint and
the GCE metadata server, for lockbox tests only. Holds no real secrets.

Follows the public API docs:
- Secret Manager v1 `projects.secrets.versions.access`
  (GET /v1/projects/P/secrets/S/versions/V:access -> {"name", "payload": {"data" (base64),
  "dataCrc32c" (int64 as a string)}}); errors as google.rpc.Status
  ({"error": {"code", "message", "status"}}): 401 UNAUTHENTICATED, 403 PERMISSION_DENIED,
  404 NOT_FOUND, 400 FAILED_PRECONDITION (disabled/destroyed version), 429 RESOURCE_EXHAUSTED.
- OAuth 2.0 for service accounts (JWT bearer grant, RFC 7523): POST token_uri with
  grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=JWT; the JWT's RS256
  signature is verified against the key this double made (openssl CLI, as the standard
  library has no RSA), and iss/aud/scope/iat/exp are checked as Google does
  ({"error": "invalid_grant", "error_description": ...} on failure).
- The metadata server (plain HTTP):
  GET /computeMetadata/v1/instance/service-accounts/default/token with
  "Metadata-Flavor: Google" (403 without it).

At start it makes an RSA key and writes a service-account key file (--credentials-out) whose
token_uri points at this double. Bearer tokens are checked on every API call (unknown or
expired -> 401). A plain-HTTP admin endpoint scripts faults and reports counters.
Binds 127.0.0.1 only; exits after --max-seconds, on SIGTERM, or POST /admin/shutdown.
Python 3 standard library + the openssl CLI.
"""

import base64
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from urllib.parse import parse_qs, urlsplit

from doublelib import AdminCommands, JsonHandler, cloud_args, serve_cloud, write_private

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
SCOPE = "https://www.googleapis.com/auth/cloud-platform"
CLIENT_EMAIL = "lockbox-test@test-project.iam.gserviceaccount.com"


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFF


def b64url_decode(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


class State:
    def __init__(self, seed: dict, keydir: str):
        self.lock = threading.Lock()
        self.project = seed.get("project", "test-project")
        self.token_ttl = int(seed.get("token_ttl", 3600))
        self.metadata_token_ttl = int(seed.get("metadata_token_ttl", self.token_ttl))
        self.secrets = {}  # name -> [ {"data": bytes, "state": str} ]
        for name, versions in seed.get("secrets", {}).items():
            self.secrets[name] = [self._version(v) for v in versions]
        self.tokens = {}  # token -> expiry (epoch seconds)
        self.faults = []  # {"where", "status", "count", "retry_after", "corrupt_crc"}
        self.counts = {}
        self.keydir = keydir
        self.token_uri = ""
        self.private_key_id = secrets.token_hex(20)

    @staticmethod
    def _version(v):
        if "data_b64" in v:
            data = base64.b64decode(v["data_b64"])
        else:
            data = v["data"].encode()
        return {"data": data, "state": v.get("state", "ENABLED")}

    def count(self, key: str):
        self.counts[key] = self.counts.get(key, 0) + 1

    def take_fault(self, where: str):
        for f in self.faults:
            if f.get("where", "access") == where and f.get("count", 1) > 0:
                f["count"] = f.get("count", 1) - 1
                return dict(f)
        return None

    def issue_token(self, ttl: int) -> str:
        tok = "ya29.double-" + secrets.token_urlsafe(24)
        self.tokens[tok] = time.time() + ttl
        return tok


def make_key(keydir: str):
    key = os.path.join(keydir, "sa.key")
    pub = os.path.join(keydir, "sa.pub")
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt",
                    "rsa_keygen_bits:2048", "-out", key], check=True, capture_output=True)
    subprocess.run(["openssl", "pkey", "-in", key, "-pubout", "-out", pub], check=True,
                   capture_output=True)
    with open(key) as fh:
        return fh.read()


def verify_rs256(pub: str, signing_input: bytes, sig: bytes) -> bool:
    with tempfile.NamedTemporaryFile(dir=os.path.dirname(pub), delete=False) as sf:
        sf.write(sig)
        sigfile = sf.name
    try:
        r = subprocess.run(["openssl", "dgst", "-sha256", "-verify", pub, "-signature",
                            sigfile], input=signing_input, capture_output=True, timeout=10)
        return r.returncode == 0
    finally:
        os.unlink(sigfile)


def google_error(code: int, status: str, message: str) -> dict:
    return {"error": {"code": code, "message": message, "status": status}}


class Handler(JsonHandler):
    server_version = "gcp-double/1"
    content_type = "application/json; charset=UTF-8"
    st: State = None  # set per server class

    def fault_reply(self, f) -> bool:
        if not f or "status" not in f:
            return False
        hdrs = {}
        if f.get("retry_after"):
            hdrs["Retry-After"] = str(f["retry_after"])
        status = int(f["status"])
        name = {429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}.get(status, "UNKNOWN")
        self.reply(status, google_error(status, name, "injected fault"), hdrs)
        return True


class ApiHandler(Handler):
    def do_GET(self):
        st = self.st
        path = urlsplit(self.path).path
        with st.lock:
            st.count("access")
            prefix = "/v1/projects/"
            if not path.startswith(prefix) or not path.endswith(":access"):
                return self.reply(404, google_error(404, "NOT_FOUND", "unknown method"))
            parts = path[len(prefix):-len(":access")].split("/")
            if len(parts) != 5 or parts[1] != "secrets" or parts[3] != "versions":
                return self.reply(404, google_error(404, "NOT_FOUND", "unknown method"))
            project, name, ver = parts[0], parts[2], parts[4]
            st.count("access:" + name)
            auth = self.headers.get("Authorization", "")
            if not auth.startswith("Bearer "):
                st.count("unauthenticated")
                return self.reply(401, google_error(
                    401, "UNAUTHENTICATED",
                    "Request is missing required authentication credential."),
                    {"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'})
            exp = st.tokens.get(auth[7:])
            if exp is None or exp <= time.time():
                st.count("unauthenticated")
                if exp is not None:
                    st.count("expired_token_used")
                return self.reply(401, google_error(
                    401, "UNAUTHENTICATED",
                    "Request had invalid authentication credentials. Expected OAuth 2 "
                    "access token, login cookie or other valid authentication credential."),
                    {"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/", error="invalid_token"'})
            f = st.take_fault("access")
            if self.fault_reply(f):
                st.count("fault")
                return
            rname = f"projects/{project}/secrets/{name}"
            if project != st.project:
                return self.reply(403, google_error(
                    403, "PERMISSION_DENIED",
                    f"Permission 'secretmanager.versions.access' denied for resource "
                    f"'{rname}/versions/{ver}' (or it may not exist)."))
            versions = st.secrets.get(name)
            if not versions:
                return self.reply(404, google_error(
                    404, "NOT_FOUND", f"Secret [{rname}] not found or has no versions."))
            n = len(versions) if ver == "latest" else (int(ver) if ver.isdigit() else 0)
            if n < 1 or n > len(versions):
                return self.reply(404, google_error(
                    404, "NOT_FOUND", f"Secret Version [{rname}/versions/{ver}] not found."))
            v = versions[n - 1]
            if v["state"] != "ENABLED":
                return self.reply(400, google_error(
                    400, "FAILED_PRECONDITION",
                    f"Secret Version [{rname}/versions/{n}] is in {v['state']} state."))
            crc = crc32c(v["data"])
            if f and f.get("corrupt_crc"):
                crc ^= 1
            st.count("access_ok")
            return self.reply(200, {
                "name": f"{rname}/versions/{n}",
                "payload": {"data": base64.b64encode(v["data"]).decode(),
                            "dataCrc32c": str(crc)}})

    def do_POST(self):
        st = self.st
        if urlsplit(self.path).path != "/token":
            return self.reply(404, {"error": "not_found"})
        try:
            form = parse_qs(self.body().decode(), keep_blank_values=True)
        except (ValueError, UnicodeDecodeError):
            return self.reply(400, {"error": "invalid_request"})
        with st.lock:
            st.count("token")
            if self.fault_reply(st.take_fault("token")):
                return
            if form.get("grant_type", [""])[0] != JWT_GRANT:
                return self.reply(400, {"error": "unsupported_grant_type",
                                        "error_description": "Invalid grant_type."})
            jwt = form.get("assertion", [""])[0]
            err = self.check_jwt(jwt)
            if err:
                st.count("token_refused")
                return self.reply(400, {"error": "invalid_grant", "error_description": err})
            tok = st.issue_token(st.token_ttl)
            st.count("token_ok")
            return self.reply(200, {"access_token": tok, "expires_in": st.token_ttl,
                                    "token_type": "Bearer"})

    def check_jwt(self, jwt: str):
        st = self.st
        parts = jwt.split(".")
        if len(parts) != 3:
            return "Invalid JWT: not three parts."
        try:
            hdr = json.loads(b64url_decode(parts[0]))
            claims = json.loads(b64url_decode(parts[1]))
            sig = b64url_decode(parts[2])
        except ValueError:
            return "Invalid JWT: bad encoding."
        if hdr.get("alg") != "RS256":
            return "Invalid JWT: alg must be RS256."
        if hdr.get("kid") not in (None, st.private_key_id):
            return "Invalid JWT Signature."
        if not verify_rs256(os.path.join(st.keydir, "sa.pub"),
                            (parts[0] + "." + parts[1]).encode(), sig):
            return "Invalid JWT Signature."
        now = time.time()
        if claims.get("iss") != CLIENT_EMAIL:
            return "Invalid JWT: unknown issuer."
        if claims.get("aud") != st.token_uri:
            return "Invalid JWT: audience must be the token_uri."
        if SCOPE not in str(claims.get("scope", "")).split():
            return "Invalid JWT: scope."
        iat, exp = claims.get("iat"), claims.get("exp")
        if not isinstance(iat, int) or not isinstance(exp, int) or exp - iat > 3600 or \
                exp < now or iat > now + 60:
            return ("Invalid JWT: Token must be a short-lived token (60 minutes) and in a "
                    "reasonable timeframe. Check your iat and exp values in the JWT claim.")
        return None


class MetadataHandler(Handler):
    def do_GET(self):
        st = self.st
        with st.lock:
            st.count("metadata")
            if urlsplit(self.path).path != \
                    "/computeMetadata/v1/instance/service-accounts/default/token":
                return self.reply(404, b"Not Found")
            if self.headers.get("Metadata-Flavor") != "Google" or \
                    self.headers.get("X-Forwarded-For"):
                st.count("metadata_refused")
                return self.reply(403, b"Missing Metadata-Flavor:Google header.")
            if self.fault_reply(st.take_fault("metadata")):
                return
            tok = st.issue_token(st.metadata_token_ttl)
            return self.reply(200, {"access_token": tok, "expires_in": st.metadata_token_ttl,
                                    "token_type": "Bearer"}, {"Metadata-Flavor": "Google"})


class AdminHandler(AdminCommands, Handler):
    def do_GET(self):
        st = self.st
        with st.lock:
            if urlsplit(self.path).path == "/admin/state":
                return self.reply(200, {"counts": st.counts, "tokens": len(st.tokens),
                                        "faults": st.faults})
        return self.reply(404, {})

    def admin_post(self, path, body) -> bool:
        st = self.st
        if path == "/admin/secret":  # {"name", "data"} adds a version
            st.secrets.setdefault(body["name"], []).append(State._version(body))
            self.reply(200, {"version": len(st.secrets[body["name"]])})
        elif path == "/admin/state-of":  # {"name", "version", "state"}
            st.secrets[body["name"]][int(body["version"]) - 1]["state"] = body["state"]
            self.reply(200, {})
        elif path == "/admin/token-ttl":
            st.token_ttl = st.metadata_token_ttl = int(body["ttl"])
            self.reply(200, {})
        else:
            return False
        return True


def main(argv=None) -> int:
    ap = cloud_args("GCP Secret Manager test double (tests only)", "metadata")
    ap.add_argument("--credentials-out", required=True, help="service-account key file to write")
    args = ap.parse_args(argv)
    with open(args.seed) as fh:
        seed = json.load(fh)
    keydir = tempfile.mkdtemp(prefix="gcp-double.")
    try:
        st = State(seed, keydir)
        pem = make_key(keydir)

        def ready(api_port):
            st.token_uri = f"https://127.0.0.1:{api_port}/token"
            cred = {"type": "service_account", "project_id": st.project,
                    "private_key_id": st.private_key_id, "private_key": pem,
                    "client_email": CLIENT_EMAIL, "client_id": "1234567890",
                    "token_uri": st.token_uri}
            write_private(args.credentials_out, json.dumps(cred))

        return serve_cloud("gcp_double", args, st, ApiHandler, MetadataHandler, AdminHandler,
                           "metadata", args.metadata_port, args.metadata_port_file, ready)
    finally:
        shutil.rmtree(keydir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
