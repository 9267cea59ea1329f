#!/usr/bin/env python3
"""azure_double.py - a TEST DOUBLE of Azure Key Vault secrets, the Microsoft Entra ID v2.0
token endpoint and the Azure Instance Metadata Service (IMDS) managed-identity token
endpoint, for lockbox tests only. Holds no real secrets.

Follows the public API docs:
- Key Vault REST 7.4 "Get Secret": GET /secrets/{name}[/{version}]?api-version=7.4 ->
  {"value", "id": "https://{vault}/secrets/{name}/{version}", "attributes": {...}}; errors
  {"error": {"code", "message"[, "innererror": {"code"}]}}: 401 Unauthorized (with the
  challenge "WWW-Authenticate: Bearer authorization=\"{authority}/{tenant}\",
  resource=\"https://vault.azure.net\"" on a request without a token), 403 Forbidden
  (innererror SecretDisabled for a disabled version), 404 SecretNotFound, 429 Throttled.
- Entra ID client credentials (POST /{tenant}/oauth2/v2.0/token): client_secret, or
  client_assertion (RS256 JWT, header x5t = base64url SHA-1 of the registered certificate,
  aud = the token endpoint, iss = sub = client_id, exp/nbf checked; the signature is checked
  with the openssl CLI). Scope must be https://vault.azure.net/.default. Errors
  {"error": "invalid_client", "error_description": "AADSTS...", ...}.
- IMDS (plain HTTP): GET /metadata/identity/oauth2/token?api-version=2018-02-01&resource=...
  with "Metadata: true" (400 without it); every field of the reply is a string, expires_in
  included.

At start it makes the client certificate (RSA key + self-signed certificate, written as
one PEM to --cert-out) and writes the client secret to --secret-out. Bearer tokens are
checked on every API call. A plain-HTTP admin endpoint scripts faults, reports counters.
Binds 127.0.0.1 only; exits after --max-seconds, on SIGTERM, or POST /admin/shutdown.
"""

import base64
import hashlib
import json
import os
import secrets
import shutil
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from urllib.parse import parse_qs, urlsplit

from doublelib import AdminCommands, JsonHandler, cloud_args, serve_cloud, write_private

RESOURCE = "https://vault.azure.net"
SCOPE = RESOURCE + "/.default"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def b64url_decode(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def b64url(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


class State:
    def __init__(self, seed: dict, keydir: str):
        self.lock = threading.Lock()
        self.tenant = seed.get("tenant", "00000000-0000-0000-0000-00000000abcd")
        self.client_id = seed.get("client_id", "11111111-2222-3333-4444-555555555555")
        self.client_secret = seed.get("client_secret", "double-secret-" + secrets.token_hex(8))
        self.vault_host = seed.get("vault_host", "lockbox-test.vault.azure.net")
        self.token_ttl = int(seed.get("token_ttl", 3600))
        self.secrets = {}  # name -> [ {"version", "value", "enabled"} ] oldest first
        for name, versions in seed.get("secrets", {}).items():
            self.secrets[name] = [self._version(v) for v in versions]
        self.tokens = {}  # token -> expiry
        self.faults = []
        self.counts = {}
        self.keydir = keydir
        self.x5t = ""
        self.api_base = ""

    @staticmethod
    def _version(v):
        return {"version": v.get("version") or uuid.uuid4().hex, "value": v["value"],
                "enabled": v.get("enabled", True)}

    def count(self, key):
        self.counts[key] = self.counts.get(key, 0) + 1

    def take_fault(self, where):
        for f in self.faults:
            if f.get("where", "secrets") == where and f.get("count", 1) > 0:
                f["count"] = f.get("count", 1) - 1
                return dict(f)
        return None

    def issue_token(self):
        tok = "eyJ0eXAiOiJKV1Qi.double." + secrets.token_urlsafe(24)
        self.tokens[tok] = time.time() + self.token_ttl
        return tok


def make_cert(keydir: str):
    key, crt = os.path.join(keydir, "client.key"), os.path.join(keydir, "client.crt")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", crt, "-days", "2", "-subj", "/CN=lockbox-test-app"],
                   check=True, capture_output=True)
    subprocess.run(["openssl", "x509", "-in", crt, "-noout", "-pubkey", "-out",
                    os.path.join(keydir, "client.pub")], check=True, capture_output=True)
    with open(crt) as fh:
        cert_pem = fh.read()
    der = ssl.PEM_cert_to_DER_cert(cert_pem)
    with open(key) as fh:
        return fh.read() + cert_pem, b64url(hashlib.sha1(der).digest())


def verify_rs256(pub: str, signing_input: bytes, sig: bytes) -> bool:
    with tempfile.NamedTemporaryFile(dir=os.path.dirname(pub), delete=False) as sf:
        sf.write(sig)
        name = sf.name
    try:
        r = subprocess.run(["openssl", "dgst", "-sha256", "-verify", pub, "-signature", name],
                           input=signing_input, capture_output=True, timeout=10)
        return r.returncode == 0
    finally:
        os.unlink(name)


def kv_error(code, message, inner=None):
    e = {"code": code, "message": message}
    if inner:
        e["innererror"] = {"code": inner}
    return {"error": e}


def aad_error(error, desc):
    return {"error": error, "error_description": desc, "error_codes": [int(desc[6:desc.index(":")])],
            "timestamp": time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime()),
            "trace_id": str(uuid.uuid4()), "correlation_id": str(uuid.uuid4())}


class Handler(JsonHandler):
    server_version = "azure-double/1"
    content_type = "application/json; charset=utf-8"
    st: State = None

    def fault_reply(self, f) -> bool:
        if not f or "status" not in f:
            return False
        hdrs = {"Retry-After": str(f["retry_after"])} if f.get("retry_after") else {}
        status = int(f["status"])
        code = {429: "Throttled", 500: "InternalServerError", 503: "ServiceUnavailable"}.get(
            status, "Error")
        self.reply(status, kv_error(code, "injected fault"), hdrs)
        return True


class ApiHandler(Handler):
    def do_GET(self):
        st = self.st
        u = urlsplit(self.path)
        q = parse_qs(u.query)
        parts = u.path.strip("/").split("/")
        with st.lock:
            st.count("secrets")
            if parts[0] != "secrets" or len(parts) not in (2, 3):
                return self.reply(404, kv_error("NotFound", "unknown path"))
            auth = self.headers.get("Authorization", "")
            if not auth.startswith("Bearer "):
                st.count("challenge")
                return self.reply(401, kv_error(
                    "Unauthorized", "AKV10000: Request is missing a Bearer or PoP token."),
                    {"WWW-Authenticate":
                     f'Bearer authorization="{st.api_base}/{st.tenant}", resource="{RESOURCE}"'})
            exp = st.tokens.get(auth[7:])
            if exp is None or exp <= time.time():
                st.count("unauthorized")
                if exp is not None:
                    st.count("expired_token_used")
                return self.reply(401, kv_error(
                    "Unauthorized", "AKV10032: Invalid issuer or token expired."),
                    {"WWW-Authenticate":
                     f'Bearer authorization="{st.api_base}/{st.tenant}", resource="{RESOURCE}"'})
            if q.get("api-version") != ["7.4"]:
                return self.reply(400, kv_error("BadParameter",
                                                "The api-version must be 7.4 in this double."))
            if self.fault_reply(st.take_fault("secrets")):
                st.count("fault")
                return
            name = parts[1]
            versions = st.secrets.get(name)
            if not versions:
                return self.reply(404, kv_error(
                    "SecretNotFound",
                    f"A secret with (name/id) {name} was not found in this key vault. If you "
                    "recently deleted this secret you may be able to recover it using the "
                    "correct recovery command."))
            if len(parts) == 3 and parts[2]:
                match = [v for v in versions if v["version"] == parts[2]]
                if not match:
                    return self.reply(404, kv_error(
                        "SecretNotFound",
                        f"A secret with (name/id) {name}/{parts[2]} was not found in this key vault."))
                v = match[0]
            else:
                v = versions[-1]
            if not v["enabled"]:
                return self.reply(403, kv_error(
                    "Forbidden", "Operation get is not allowed on a disabled secret.",
                    "SecretDisabled"))
            st.count("secrets_ok")
            now = int(time.time())
            return self.reply(200, {
                "value": v["value"],
                "id": f"https://{st.vault_host}/secrets/{name}/{v['version']}",
                "attributes": {"enabled": True, "created": now, "updated": now,
                               "recoveryLevel": "Recoverable+Purgeable",
                               "recoverableDays": 90}})

    def do_POST(self):
        st = self.st
        parts = urlsplit(self.path).path.strip("/").split("/")
        if len(parts) != 4 or parts[1:] != ["oauth2", "v2.0", "token"]:
            return self.reply(404, {"error": "not_found"})
        try:
            form = {k: v[0] for k, v in parse_qs(self.body().decode(),
                                                  keep_blank_values=True).items()}
        except (ValueError, UnicodeDecodeError):
            return self.reply(400, {"error": "invalid_request"})
        with st.lock:
            st.count("token")
            if self.fault_reply(st.take_fault("token")):
                return
            err = self.check_client(parts[0], form)
            if err:
                st.count("token_refused")
                return self.reply(err[0], aad_error(err[1], err[2]))
            st.count("token_ok")
            return self.reply(200, {"token_type": "Bearer", "expires_in": st.token_ttl,
                                    "ext_expires_in": st.token_ttl,
                                    "access_token": st.issue_token()})

    def check_client(self, tenant, form):
        st = self.st
        if tenant != st.tenant:
            return 400, "invalid_request", f"AADSTS90002: Tenant '{tenant}' not found."
        if form.get("grant_type") != "client_credentials":
            return 400, "unsupported_grant_type", "AADSTS70003: unsupported grant type."
        if form.get("scope") != SCOPE:
            return 400, "invalid_scope", "AADSTS1002012: The provided value for scope is not valid."
        if form.get("client_id") != st.client_id:
            return 400, "unauthorized_client", \
                f"AADSTS700016: Application with identifier '{form.get('client_id')}' was not found."
        if "client_secret" in form:
            if form["client_secret"] != st.client_secret:
                return 401, "invalid_client", "AADSTS7000215: Invalid client secret provided."
            st.count("token_secret")
            return None
        if form.get("client_assertion_type") != ASSERTION_TYPE:
            return 401, "invalid_client", \
                "AADSTS7000218: The request body must contain client_assertion or client_secret."
        bad = (401, "invalid_client",
               "AADSTS700027: Client assertion failed signature validation.")
        p = form.get("client_assertion", "").split(".")
        if len(p) != 3:
            return bad
        try:
            hdr, claims, sig = json.loads(b64url_decode(p[0])), json.loads(b64url_decode(p[1])), \
                b64url_decode(p[2])
        except ValueError:
            return bad
        if hdr.get("alg") != "RS256" or hdr.get("x5t") != st.x5t:
            return 401, "invalid_client", \
                "AADSTS700027: The certificate with identifier used to sign the client " \
                "assertion is not registered on application."
        if not verify_rs256(os.path.join(st.keydir, "client.pub"), (p[0] + "." + p[1]).encode(),
                            sig):
            return bad
        now = time.time()
        aud = f"{st.api_base}/{st.tenant}/oauth2/v2.0/token"
        if claims.get("aud") != aud or claims.get("iss") != st.client_id or \
                claims.get("sub") != st.client_id or not claims.get("jti"):
            return 401, "invalid_client", "AADSTS700023: Client assertion audience or issuer is invalid."
        if not isinstance(claims.get("exp"), int) or claims["exp"] < now or \
                claims.get("nbf", 0) > now + 300:
            return 401, "invalid_client", "AADSTS700024: Client assertion is not within its valid time range."
        st.count("token_cert")
        return None


class ImdsHandler(Handler):
    def do_GET(self):
        st = self.st
        u = urlsplit(self.path)
        q = {k: v[0] for k, v in parse_qs(u.query).items()}
        with st.lock:
            st.count("imds")
            if u.path != "/metadata/identity/oauth2/token":
                return self.reply(404, b"Not Found")
            if self.headers.get("Metadata") != "true":
                st.count("imds_refused")
                return self.reply(400, {"error": "invalid_request",
                                        "error_description": "Required metadata header not specified"})
            if q.get("api-version") != "2018-02-01" or q.get("resource") != RESOURCE:
                st.count("imds_refused")
                return self.reply(400, {"error": "invalid_request",
                                        "error_description": "bad api-version or resource"})
            if self.fault_reply(st.take_fault("imds")):
                return
            now = int(time.time())
            tok = st.issue_token()
            st.count("imds_ok")
            return self.reply(200, {
                "access_token": tok, "client_id": q.get("client_id", st.client_id),
                "expires_in": str(st.token_ttl), "expires_on": str(now + st.token_ttl),
                "ext_expires_in": str(st.token_ttl), "not_before": str(now),
                "resource": RESOURCE, "token_type": "Bearer"})


class AdminHandler(AdminCommands, Handler):
    def do_GET(self):
        st = self.st
        with st.lock:
            if urlsplit(self.path).path == "/admin/state":
                return self.reply(200, {"counts": st.counts, "faults": st.faults,
                                        "versions": {n: [v["version"] for v in vs]
                                                     for n, vs in st.secrets.items()}})
        return self.reply(404, {})

    def admin_post(self, path, body) -> bool:
        st = self.st
        if path == "/admin/secret":  # {"name", "value"[, "enabled"]} sets a new version
            v = State._version(body)
            st.secrets.setdefault(body["name"], []).append(v)
            self.reply(200, {"version": v["version"]})
        elif path == "/admin/token-ttl":
            st.token_ttl = int(body["ttl"])
            self.reply(200, {})
        else:
            return False
        return True


def main(argv=None) -> int:
    ap = cloud_args("Azure Key Vault test double (tests only)", "imds")
    ap.add_argument("--cert-out", required=True, help="client certificate PEM (key + cert)")
    ap.add_argument("--secret-out", required=True, help="client secret file")
    args = ap.parse_args(argv)
    with open(args.seed) as fh:
        seed = json.load(fh)
    keydir = tempfile.mkdtemp(prefix="azure-double.")
    try:
        st = State(seed, keydir)
        pem, st.x5t = make_cert(keydir)

        def ready(api_port):
            st.api_base = f"https://127.0.0.1:{api_port}"
            write_private(args.cert_out, pem)
            write_private(args.secret_out, st.client_secret + "\n")

        return serve_cloud("azure_double", args, st, ApiHandler, ImdsHandler, AdminHandler,
                           "imds", args.imds_port, args.imds_port_file, ready)
    finally:
        shutil.rmtree(keydir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
