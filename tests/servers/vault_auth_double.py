"""vault_auth_double.py - the workload-identity logins of vault_double.py (a TEST DOUBLE of
Vault's HTTP API, for lockbox tests only): auth/MOUNT/login of the jwt, kubernetes and aws
(IAM) auth methods, with the request fields and error envelopes of Vault's API pages
(api-docs/auth/jwt "JWT Login", api-docs/auth/kubernetes "Login", api-docs/auth/aws
"Login"). vault_double.py routes every auth/MOUNT/login here first (route() returns None
for a mount it does not know).

Seed keys (all optional):
  "jwt":        {"mounts": {"jwt": {"public_key_file": PEM, "bound_issuer": "...",
                 "expiration_leeway": 150, "roles": {"web": {"bound_audiences": [...],
                 "bound_subject": "...", "bound_claims": {"claim": "v" | ["v", ...]},
                 "user_claim": "sub", "token_policies": [...], "token_ttl": 60,
                 "token_max_ttl": 120}}}}}
  "kubernetes": {"mounts": {"kubernetes": {"public_key_file": PEM (stands in for the API
                 server's TokenReview), "roles": {"web": {"bound_service_account_names":
                 [...], "bound_service_account_namespaces": [...], "token_policies": [...],
                 "token_ttl": 60, "token_max_ttl": 120}}}}}
  "aws_auth":   {"mounts": {"aws": {"iam_server_id_header_value": "...", "keys": {AKID:
                 {"secret": "...", "token": "..." (optional), "arn": "arn:aws:iam::...:role/x"}},
                 "roles": {"web": {"bound_iam_principal_arn": [...], "token_policies": [...],
                 "token_ttl": 60, "token_max_ttl": 120}}}}}

RS256 is verified with the openssl CLI (python3 here has no RSA). The aws login's forwarded
sts:GetCallerIdentity request is verified with aws_double.py's SigV4 verifier instead of
being sent to STS: the keys stand in for AWS's.
"""

import base64
import binascii
import datetime
import hmac
import json
import os
import subprocess
import tempfile
import time
import uuid
from urllib.parse import parse_qs, urlsplit

import aws_double

STS_NS = "https://sts.amazonaws.com/doc/2011-06-15/"


class Fail(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def _roles(raw: dict) -> dict:
    return {name: dict(r) for name, r in (raw or {}).items()}


def config(st) -> dict:
    """The seed's auth sections, parsed once per State."""
    cfg = getattr(st, "_auth_cfg", None)
    if cfg is None:
        seed = getattr(st, "seed", {}) or {}
        cfg = {}
        for kind, key in (("jwt", "jwt"), ("kubernetes", "kubernetes"), ("aws", "aws_auth")):
            for mount, m in ((seed.get(key) or {}).get("mounts") or {}).items():
                cfg[mount.strip("/")] = {"kind": kind, **m, "roles": _roles(m.get("roles"))}
        st._auth_cfg = cfg
    return cfg


def _b64url(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def verify_rs256(jwt: str, public_key_file: str) -> dict:
    """The claims of a JWT whose RS256 signature the key verifies; Fail otherwise."""
    parts = jwt.split(".")
    if len(parts) != 3:
        raise Fail(400, "error validating token: malformed token")
    try:
        header = json.loads(_b64url(parts[0]))
        claims = json.loads(_b64url(parts[1]))
        sig = _b64url(parts[2])
    except (ValueError, binascii.Error):
        raise Fail(400, "error validating token: malformed token") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise Fail(400, "error validating token: malformed token")
    if header.get("alg") != "RS256":
        raise Fail(400, f"error validating token: unsupported signing algorithm "
                        f"\"{header.get('alg')}\"")
    with tempfile.NamedTemporaryFile(prefix="jwtsig") as fh:
        fh.write(sig)
        fh.flush()
        r = subprocess.run(["openssl", "dgst", "-sha256", "-verify", public_key_file,
                            "-signature", fh.name], input=(parts[0] + "." + parts[1]).encode(),
                           capture_output=True, timeout=10, check=False)
    if r.returncode != 0:
        raise Fail(400, "error validating token: failed to verify id token signature")
    return claims


def _time_claims(claims: dict, leeway: int) -> None:
    t = time.time()
    exp, nbf = claims.get("exp"), claims.get("nbf")
    if isinstance(exp, (int, float)) and t > exp + leeway:
        raise Fail(400, "error validating token: token is expired (exp)")
    if isinstance(nbf, (int, float)) and t < nbf - leeway:
        raise Fail(400, "error validating token: token not valid yet (nbf)")


def _seconds(v) -> int:
    """A role's TTL: seconds, or "90s" / "5m" / "1h"."""
    if isinstance(v, str) and v[-1:] in ("s", "m", "h"):
        return int(v[:-1]) * {"s": 1, "m": 60, "h": 3600}[v[-1]]
    return int(v or 0)


def _issue(handler, st, mount: str, name: str, role: dict, meta: dict, display: str) -> tuple:
    with st.lock:
        rec = st._issue_token(policies=role.get("token_policies", []),
                              ttl=_seconds(role.get("token_ttl", 3600)),
                              max_ttl=_seconds(role.get("token_max_ttl", 0)),
                              renewable=True, path=f"auth/{mount}/login",
                              display_name=display, meta=meta, source=f"{mount}:{name}")
        auth = handler._auth_block(rec, meta)
    return 200, handler._envelope(None, auth=auth), {}


def _jwt_login(handler, st, mount: str, m: dict, body: dict) -> tuple:
    name, jwt = str(body.get("role", "")), body.get("jwt")
    if not jwt or not isinstance(jwt, str):
        raise Fail(400, "missing token")
    role = m["roles"].get(name)
    if role is None:
        raise Fail(400, f'role "{name}" could not be found')
    claims = verify_rs256(jwt, m["public_key_file"])
    _time_claims(claims, int(m.get("expiration_leeway", 150)))
    if m.get("bound_issuer") and claims.get("iss") != m["bound_issuer"]:
        raise Fail(400, "error validating token: invalid issuer (iss) claim")
    auds = role.get("bound_audiences") or []
    aud = claims.get("aud")
    aud = aud if isinstance(aud, list) else [aud]
    if auds and not set(auds) & set(a for a in aud if isinstance(a, str)):
        raise Fail(400, "error validating token: invalid audience (aud) claim: audience claim "
                        "does not match any expected audience")
    if role.get("bound_subject") and claims.get("sub") != role["bound_subject"]:
        raise Fail(400, "error validating token: invalid subject (sub) claim")
    for claim, want in (role.get("bound_claims") or {}).items():
        want = want if isinstance(want, list) else [want]
        got = claims.get(claim)
        got = got if isinstance(got, list) else [got]
        if not any(g in want for g in got):
            raise Fail(400, f'error validating claims: claim "{claim}" does not match any '
                            f'associated bound claim values')
    user = claims.get(role.get("user_claim", "sub"))
    if not isinstance(user, str) or not user:
        raise Fail(400, f'claim "{role.get("user_claim", "sub")}" not found in token')
    return _issue(handler, st, mount, name, role, {"role": name}, f"{mount}-{user}")


def _k8s_login(handler, st, mount: str, m: dict, body: dict) -> tuple:
    name, jwt = str(body.get("role", "")), body.get("jwt")
    if not name:
        raise Fail(400, "missing role")
    if not jwt or not isinstance(jwt, str):
        raise Fail(400, "missing jwt")
    role = m["roles"].get(name)
    if role is None:
        raise Fail(400, f'invalid role name "{name}"')
    try:
        claims = verify_rs256(jwt, m["public_key_file"])  # the TokenReview stand-in
        _time_claims(claims, 0)
    except Fail:
        raise Fail(403, "permission denied") from None
    k8s = claims.get("kubernetes.io") if isinstance(claims.get("kubernetes.io"), dict) else {}
    ns = k8s.get("namespace") or claims.get("kubernetes.io/serviceaccount/namespace")
    sa = (k8s.get("serviceaccount") or {}).get("name") \
        or claims.get("kubernetes.io/serviceaccount/service-account.name")
    names = role.get("bound_service_account_names") or []
    nss = role.get("bound_service_account_namespaces") or []
    if "*" not in names and sa not in names:
        raise Fail(403, "service account name not authorized")
    if "*" not in nss and ns not in nss:
        raise Fail(403, "namespace not authorized")
    meta = {"role": name, "service_account_name": sa, "service_account_namespace": ns}
    return _issue(handler, st, mount, name, role, meta, f"{mount}-{ns}-{sa}")


class _Headers:
    """http.Header's JSON ({"Name": ["v"]} or {"Name": "v"}) for aws_double's verifier."""

    def __init__(self, raw: dict, host: str):
        self.h = {}
        for k, v in raw.items():
            self.h.setdefault(k.lower(), []).extend(v if isinstance(v, list) else [v])
        self.h.setdefault("host", [host])

    def get_all(self, name):
        return self.h.get(name.lower())

    def get(self, name, default=None):
        v = self.h.get(name.lower())
        return v[0] if v else default


def _sts_error(code: str, message: str) -> Fail:
    xml = (f'<ErrorResponse xmlns="{STS_NS}"><Error><Type>Sender</Type><Code>{code}</Code>'
           f'<Message>{message}</Message></Error><RequestId>{uuid.uuid4()}</RequestId>'
           f'</ErrorResponse>')
    return Fail(400, f"error making upstream request: received error code 403 from STS: {xml}")


def _aws_login(handler, st, mount: str, m: dict, body: dict) -> tuple:
    name = str(body.get("role", ""))
    try:
        method = str(body.get("iam_http_request_method", ""))
        url = base64.b64decode(str(body.get("iam_request_url", "")), validate=True).decode()
        req_body = base64.b64decode(str(body.get("iam_request_body", "")), validate=True)
        raw_headers = json.loads(base64.b64decode(str(body.get("iam_request_headers", "")),
                                                  validate=True))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise Fail(400, "error parsing iam_request_url, iam_request_body or "
                        "iam_request_headers") from None
    if not method or not url or not isinstance(raw_headers, dict):
        raise Fail(400, "missing iam_http_request_method, iam_request_url or "
                        "iam_request_headers")
    role = m["roles"].get(name)
    if role is None:
        raise Fail(400, f"entry for role {name} not found")
    u = urlsplit(url)
    if u.scheme != "https" or not u.hostname:
        raise Fail(400, "error parsing iam_request_url")
    headers = _Headers(raw_headers, u.netloc)
    want_sid = m.get("iam_server_id_header_value")
    auth = headers.get("Authorization", "")
    match = aws_double.AUTH_RE.match(auth.strip())
    if want_sid:
        got = headers.get("X-Vault-AWS-IAM-Server-ID")
        if got is None:
            raise Fail(400, 'missing header "X-Vault-AWS-IAM-Server-ID"')
        if got != want_sid:
            raise Fail(400, f'expected "{want_sid}" but got "{got}"')
        if not match or "x-vault-aws-iam-server-id" not in match.group(2).split(";"):
            raise Fail(400, "vault header wasn't signed")
    if method != "POST" or parse_qs(req_body.decode(errors="replace")).get("Action") != \
            ["GetCallerIdentity"]:
        raise Fail(400, "iam_request_body must be an sts:GetCallerIdentity request")
    if not match:
        raise _sts_error("IncompleteSignature", "Authorization header requires 'Credential', "
                                                "'Signature' and 'SignedHeaders' parameters.")
    cred, signed_s, sig = match.groups()
    parts = cred.split("/")
    if len(parts) != 5 or parts[3] != "sts" or parts[4] != "aws4_request":
        raise _sts_error("SignatureDoesNotMatch", "Credential should be scoped to correct "
                                                  "service: 'sts'.")
    key = (m.get("keys") or {}).get(parts[0])
    token = headers.get("X-Amz-Security-Token")
    if key is None or token != key.get("token"):
        raise _sts_error("InvalidClientTokenId",
                         "The security token included in the request is invalid.")
    ts = headers.get("X-Amz-Date", "")
    try:
        t = datetime.datetime.strptime(ts, "%Y%m%dT%H%M%SZ").replace(
            tzinfo=datetime.timezone.utc).timestamp()
    except ValueError:
        raise _sts_error("IncompleteSignature", "Date must be in ISO-8601 'basic format'") \
            from None
    if abs(t - time.time()) > aws_double.CLOCK_SKEW_S or parts[1] != ts[:8]:
        raise _sts_error("SignatureDoesNotMatch", "Signature expired")
    want = aws_double.expected_signature(key["secret"], method, u.path or "/", u.query, headers,
                                         signed_s.split(";"), req_body, ts, "/".join(parts[1:]))
    if not hmac.compare_digest(want, sig):
        raise _sts_error("SignatureDoesNotMatch", aws_double.MSG_BAD_SIGNATURE)
    arn = key["arn"]
    bound = role.get("bound_iam_principal_arn") or []
    if "*" not in bound and arn not in bound:
        raise Fail(400, f'IAM Principal "{arn}" does not belong to the role "{name}"')
    meta = {"role": name, "canonical_arn": arn, "account_id": arn.split(":")[4],
            "client_user_id": parts[0], "auth_type": "iam"}
    return _issue(handler, st, mount, name, role, meta, f"{mount}-{arn.rsplit('/', 1)[-1]}")


LOGINS = {"jwt": _jwt_login, "kubernetes": _k8s_login, "aws": _aws_login}


def route(handler, st, path: str, method: str, body: dict, ns: str):
    """auth/MOUNT/login of a jwt, kubernetes or aws mount; None for anything else."""
    if not path.startswith("auth/") or not path.endswith("/login") or method not in ("POST", "PUT"):
        return None
    mount = path[len("auth/"):-len("/login")]
    m = config(st).get(mount)
    if m is None or ns != st.namespace:
        return None
    try:
        return LOGINS[m["kind"]](handler, st, mount, m, body)
    except Fail as f:
        return f.status, {"errors": [f.message]}, {}


def sign_jwt(claims: dict, key_file: str) -> str:
    """For tests: an RS256 JWT of claims signed with the PEM private key (openssl CLI)."""
    def enc(b: bytes) -> str:
        return base64.urlsafe_b64encode(b).rstrip(b"=").decode()
    head = enc(json.dumps({"alg": "RS256", "typ": "JWT"}).encode())
    pay = enc(json.dumps(claims).encode())
    r = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key_file],
                       input=f"{head}.{pay}".encode(), capture_output=True, timeout=10,
                       check=True)
    return f"{head}.{pay}.{enc(r.stdout)}"


if __name__ == "__main__":
    # python3 vault_auth_double.py sign KEY.pem CLAIMS_JSON: print a JWT (for shell tests).
    import sys
    if len(sys.argv) == 4 and sys.argv[1] == "sign":
        print(sign_jwt(json.loads(sys.argv[3]), sys.argv[2]))
        sys.exit(0)
    sys.stderr.write("usage: vault_auth_double.py sign KEY.pem CLAIMS_JSON\n")
    sys.exit(2)
