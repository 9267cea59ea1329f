"""vault_state.py - the state of vault_double.py (a TEST DOUBLE of HashiCorp Vault's HTTP
API, for lockbox tests only) and its plain-HTTP admin plane: mounts and secrets, policies,
tokens, leases, wrapping tokens, faults and the request log, Go-style durations and Vault's
error replies. vault_double.py serves the API on top of it. Python 3.11 standard library only.
"""

import datetime
import hashlib
import json
import re
import secrets
import ssl
import string
import threading
import time
import uuid
from urllib.parse import urlsplit

from doublelib import AdminJsonHandler

# kv v1 reports the mount's default lease TTL (32 days) as an advisory lease_duration.
KV1_DEFAULT_LEASE_SECONDS = 2764800
SYSTEM_MAX_TTL = 2764800
# Paths the built-in "default" policy grants to every token that has it.
DEFAULT_POLICY_PATHS = (
    "auth/token/lookup-self",
    "auth/token/renew-self",
    "auth/token/revoke-self",
    "sys/leases/renew",
    "sys/leases/lookup",
    "sys/renew",
    "sys/wrapping/unwrap",
    "sys/wrapping/lookup",
)
BASE62 = string.ascii_letters + string.digits


def now() -> float:
    return time.time()


def rfc3339(ts: float | None) -> str | None:
    if ts is None:
        return None
    dt = datetime.datetime.fromtimestamp(ts, tz=datetime.timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond:06d}000Z"


def go_duration(seconds: int) -> str:
    """time.Duration.String() for whole seconds, as Vault prints TTLs in warnings."""
    seconds = int(seconds)
    if seconds <= 0:
        return "0s"
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    if h:
        return f"{h}h{m}m{s}s"
    if m:
        return f"{m}m{s}s"
    return f"{s}s"


def parse_duration(value) -> int:
    """Vault accepts an int of seconds or a duration string such as "1h", "90s", "1h30m"."""
    if value is None or value == "":
        return 0
    if isinstance(value, bool):
        raise ValueError("bad duration")
    if isinstance(value, (int, float)):
        return int(value)
    text = str(value).strip()
    if text.isdigit():
        return int(text)
    total = 0
    for num, unit in re.findall(r"(\d+)([hms])", text):
        total += int(num) * {"h": 3600, "m": 60, "s": 1}[unit]
    if not re.fullmatch(r"(\d+[hms])+", text):
        raise ValueError(f"time: invalid duration {text!r}")
    return total


def multierror(*messages: str) -> str:
    """go-multierror's ListFormatFunc: how Vault's core renders ACL and token errors."""
    if len(messages) == 1:
        return f"1 error occurred:\n\t* {messages[0]}\n\n"
    points = "\n\t".join(f"* {m}" for m in messages)
    return f"{len(messages)} errors occurred:\n\t{points}\n\n"


# Exact bodies real Vault (>= 1.17, hashicorp/vault PR #25953) sends for the two 403s.
ERR_PERMISSION_DENIED = multierror("permission denied")
ERR_INVALID_TOKEN = multierror("permission denied", "invalid token")
ERR_SEALED = "Vault is sealed"
ERR_INTERNAL = "internal error"
ERR_BAD_WRAPPING_TOKEN = "wrapping token is not valid or does not exist"
ERR_APPROLE_LOGIN = "invalid role or secret ID"
ERR_CERT_LOGIN = "invalid certificate or no client certificate supplied"


def rand62(n: int) -> str:
    return "".join(secrets.choice(BASE62) for _ in range(n))


def fingerprint_of_pem_file(path: str) -> str:
    with open(path, "r", encoding="ascii") as fh:
        der = ssl.PEM_cert_to_DER_cert(fh.read())
    return hashlib.sha256(der).hexdigest()


def norm_fingerprint(value: str) -> str:
    return value.replace(":", "").strip().lower()


def norm_namespace(value: str | None) -> str:
    value = (value or "").strip().strip("/")
    return value + "/" if value else ""


class Reply(Exception):
    """Raised by handlers to send a status, JSON body and optional headers."""

    def __init__(self, status: int, body=None, headers: dict | None = None):
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers or {}


def error_reply(status: int, *messages: str, headers: dict | None = None) -> Reply:
    return Reply(status, {"errors": list(messages)}, headers)


class State:
    """Everything the double knows; guarded by one lock."""

    def __init__(self, seed: dict):
        self.lock = threading.RLock()
        self.seed = seed
        self.sealed = bool(seed.get("sealed", False))
        self.namespace = norm_namespace(seed.get("namespace"))
        self.policies = {name: list(paths) for name, paths in seed.get("policies", {}).items()}
        self.mounts: dict[str, dict] = {}
        self.kv: dict[str, dict] = {}  # "mount/path" -> {"versions": [...]} (v2) or {"data": {...}} (v1)
        self.db_roles: dict[str, dict] = {}  # "database/creds/web" -> role
        self.tokens: dict[str, dict] = {}
        self.leases: dict[str, dict] = {}
        self.revoked_leases: list[dict] = []
        self.wrapping: dict[str, dict] = {}
        self.approle_mounts: dict[str, dict] = {}
        self.cert_mounts: dict[str, dict] = {}
        self.faults: list[dict] = []
        self.log: list[dict] = []
        self.counts: dict[str, int] = {}
        self.counts_by_method: dict[str, int] = {}
        self._load(seed)

    # ----- seed -------------------------------------------------------------------------
    def _load(self, seed: dict) -> None:
        t = now()
        for mpath, m in seed.get("mounts", {}).items():
            mount = mpath.strip("/") + "/"
            mtype = m.get("type", "kv")
            version = str(m.get("version", "1")) if mtype == "kv" else None
            entry = {
                "type": mtype,
                "version": version,
                "options": m.get("options", {"version": version} if mtype == "kv" else None),
                "accessor": f"{mtype}_{secrets.token_hex(4)}",
                "uuid": str(uuid.uuid4()),
                "description": m.get("description", ""),
                "seed": m,
            }
            self.mounts[mount] = entry
            if mtype == "kv":
                for spath, value in m.get("secrets", {}).items():
                    key = mount + spath.strip("/")
                    if version == "2":
                        versions = value if isinstance(value, list) else [{"data": value}]
                        self.kv[key] = {"versions": []}
                        for v in versions:
                            self._kv2_append(key, v.get("data", {}), t)
                            vm = self.kv[key]["versions"][-1]
                            if v.get("deleted"):
                                vm["deletion_time"] = t
                            if v.get("destroyed"):
                                vm["destroyed"] = True
                                vm["data"] = None
                    else:
                        self.kv[key] = {"data": dict(value)}
            elif mtype == "database":
                for role, r in m.get("roles", {}).items():
                    self.db_roles[f"{mount}creds/{role}"] = {
                        "name": role,
                        "default_ttl": parse_duration(r.get("default_ttl", 3600)),
                        "max_ttl": parse_duration(r.get("max_ttl", 86400)),
                        "renewable": bool(r.get("renewable", True)),
                        "fields": dict(r.get("fields", {})),
                    }
        for token, spec in seed.get("tokens", {}).items():
            self._issue_token(
                token=token,
                policies=spec.get("policies", []),
                ttl=parse_duration(spec.get("ttl", 0)),
                max_ttl=parse_duration(spec.get("max_ttl", 0)),
                renewable=bool(spec.get("renewable", True)),
                path="auth/token/create",
                display_name="token",
                meta=spec.get("meta"),
                no_default_policy=bool(spec.get("no_default_policy", False)),
                namespace=spec.get("namespace"),
                source="seed",
            )
        approle = seed.get("approle")
        if approle:
            mount = approle.get("mount", "approle").strip("/")
            roles = {}
            for name, r in approle.get("roles", {}).items():
                roles[name] = {
                    "role_id": r["role_id"],
                    "secret_ids": set(r.get("secret_ids", [])),
                    "policies": r.get("token_policies", []),
                    "ttl": parse_duration(r.get("token_ttl", 3600)),
                    "max_ttl": parse_duration(r.get("token_max_ttl", 0)),
                }
            self.approle_mounts[mount] = roles
        cert = seed.get("cert")
        if cert:
            mount = cert.get("mount", "cert").strip("/")
            certs = {}
            for name, c in cert.get("certs", {}).items():
                fp = c.get("fingerprint_sha256")
                if not fp and c.get("certificate_file"):
                    fp = fingerprint_of_pem_file(c["certificate_file"])
                certs[name] = {
                    "fingerprint": norm_fingerprint(fp or ""),
                    "policies": c.get("token_policies", []),
                    "ttl": parse_duration(c.get("token_ttl", 3600)),
                    "max_ttl": parse_duration(c.get("token_max_ttl", 0)),
                    "display_name": c.get("display_name", name),
                }
            self.cert_mounts[mount] = certs
        for wtoken, w in seed.get("wrapping_tokens", {}).items():
            self.add_wrapping_token(w.get("data", {}), parse_duration(w.get("ttl", 300)), wtoken)

    # ----- kv ---------------------------------------------------------------------------
    def _kv2_append(self, key: str, data: dict, t: float) -> dict:
        entry = self.kv.setdefault(key, {"versions": []})
        vm = {
            "version": len(entry["versions"]) + 1,
            "created_time": t,
            "deletion_time": None,
            "destroyed": False,
            "data": dict(data),
        }
        entry["versions"].append(vm)
        return vm

    def mount_of(self, path: str) -> str | None:
        best = None
        for mount in self.mounts:
            if path.startswith(mount) or path + "/" == mount:
                if best is None or len(mount) > len(best):
                    best = mount
        return best

    def kv_write(self, path: str, data: dict) -> dict:
        """Admin write: a new version on kv v2, a replacement on kv v1."""
        mount = self.mount_of(path.strip("/"))
        if mount is None or self.mounts[mount]["type"] != "kv":
            raise error_reply(400, f"no kv mount for {path!r}")
        key = path.strip("/")
        if self.mounts[mount]["version"] == "2":
            vm = self._kv2_append(key, data, now())
            return {"version": vm["version"]}
        self.kv[key] = {"data": dict(data)}
        return {}

    def kv_delete(self, path: str, version: int | None, destroy: bool) -> dict:
        key = path.strip("/")
        entry = self.kv.get(key)
        if entry is None:
            raise error_reply(404, f"no secret {path!r}")
        if "versions" not in entry:
            del self.kv[key]
            return {}
        ver = version or len(entry["versions"])
        if not 1 <= ver <= len(entry["versions"]):
            raise error_reply(404, f"no version {ver} of {path!r}")
        vm = entry["versions"][ver - 1]
        if destroy:
            vm["destroyed"] = True
            vm["data"] = None
        else:
            vm["deletion_time"] = now()
        return {"version": ver}

    # ----- tokens -----------------------------------------------------------------------
    def _issue_token(self, *, policies, ttl, max_ttl, renewable, path, display_name, meta=None,
                     token=None, no_default_policy=False, namespace=None, source="login") -> dict:
        t = now()
        pols = sorted(set(policies))
        if not no_default_policy and "root" not in pols and "default" not in pols:
            pols = sorted(pols + ["default"])
        rec = {
            "id": token or "hvs." + rand62(24),
            "accessor": rand62(24),
            "policies": pols,
            "creation_time": t,
            "creation_ttl": ttl,
            "ttl": ttl,
            "expire": t + ttl if ttl else None,
            "explicit_max_ttl": max_ttl,
            "max_expire": t + max_ttl if max_ttl else None,
            "renewable": renewable and ttl > 0,
            "path": path,
            "display_name": display_name,
            "meta": meta,
            "revoked": None,
            "namespace": norm_namespace(namespace) if namespace is not None else self.namespace,
            "source": source,
            "renewals": 0,
        }
        self.tokens[rec["id"]] = rec
        return rec

    def token_valid(self, rec: dict | None, namespace: str) -> bool:
        if rec is None or rec["revoked"]:
            return False
        if rec["namespace"] != namespace:
            return False
        if rec["expire"] is not None and rec["expire"] <= now():
            rec["revoked"] = "expired"
            self._revoke_leases_of(rec, "token expired")
            return False
        return True

    def revoke_token(self, token: str, reason: str) -> bool:
        rec = self.tokens.get(token)
        if rec is None or rec["revoked"]:
            return False
        rec["revoked"] = reason
        self._revoke_leases_of(rec, "token revoked")
        return True

    def allowed(self, rec: dict, path: str) -> bool:
        if "root" in rec["policies"]:
            return True
        if "default" in rec["policies"] and path in DEFAULT_POLICY_PATHS:
            return True
        for name in rec["policies"]:
            for rule in self.policies.get(name, []):
                if rule.endswith("*") and path.startswith(rule[:-1]):
                    return True
                if rule == path:
                    return True
        return False

    def has_mount_access(self, rec: dict, mount: str) -> bool:
        if "root" in rec["policies"]:
            return True
        for name in rec["policies"]:
            for rule in self.policies.get(name, []):
                if rule.rstrip("*").startswith(mount) or mount.startswith(rule.rstrip("*")):
                    return True
        return False

    # ----- leases -----------------------------------------------------------------------
    def sweep_leases(self) -> None:
        t = now()
        for lease_id, lease in list(self.leases.items()):
            owner = self.tokens.get(lease["token"])
            if owner is not None and not owner["revoked"] and owner["expire"] is not None \
                    and owner["expire"] <= t:
                owner["revoked"] = "expired"
                self._revoke_leases_of(owner, "token expired")
            elif lease["expire"] <= t:
                self._revoke_lease(lease_id, "expired")

    def _revoke_lease(self, lease_id: str, reason: str) -> None:
        lease = self.leases.pop(lease_id, None)
        if lease is not None:
            self.revoked_leases.append(
                {"lease_id": lease_id, "path": lease["path"], "reason": reason, "revoked_at": now()})

    def _revoke_leases_of(self, token_rec: dict, reason: str) -> None:
        for lease_id, lease in list(self.leases.items()):
            if lease["token"] == token_rec["id"]:
                self._revoke_lease(lease_id, reason)

    def add_wrapping_token(self, data: dict, ttl: int, token: str | None = None) -> str:
        token = token or "hvs." + rand62(24)
        self.wrapping[token] = {"data": dict(data), "expire": now() + (ttl or 300),
                                "accessor": rand62(24), "creation_ttl": ttl or 300}
        return token

    # ----- faults and log ----------------------------------------------------------------
    def take_fault(self, path: str) -> dict | None:
        for fault in self.faults:
            prefix = fault.get("path", "*")
            if prefix in ("", "*") or path.startswith(prefix.strip("/")):
                fault["count"] -= 1
                if fault["count"] <= 0:
                    self.faults.remove(fault)
                return fault
        return None


class AdminHandler(AdminJsonHandler):
    """Plain-HTTP control plane for tests: faults, state changes, request log."""

    server_version = "vault-test-double-admin"

    def _body(self) -> dict:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        return json.loads(raw) if raw.strip() else {}

    def do_GET(self):
        st: State = self.server.state
        url = urlsplit(self.path)
        with st.lock:
            st.sweep_leases()
            if url.path == "/admin/requests":
                self._send(200, {"counts": st.counts, "counts_by_method": st.counts_by_method,
                                 "log": st.log})
            elif url.path == "/admin/leases":
                live = [{k: v for k, v in lease.items() if k != "token"} | {
                    "token_accessor": st.tokens[lease["token"]]["accessor"]}
                    for lease in st.leases.values()]
                self._send(200, {"live": live, "revoked": st.revoked_leases})
            elif url.path == "/admin/tokens":
                toks = [{"accessor": r["accessor"], "policies": r["policies"], "source": r["source"],
                         "expire": r["expire"], "max_expire": r["max_expire"], "revoked": r["revoked"],
                         "renewals": r["renewals"], "path": r["path"]} for r in st.tokens.values()]
                self._send(200, {"tokens": toks})
            elif url.path == "/admin/state":
                self._send(200, {"sealed": st.sealed, "faults": st.faults,
                                 "wrapping_tokens": len(st.wrapping)})
            else:
                self._send(404, {"errors": [f"unknown admin path {url.path}"]})

    def do_POST(self):
        st: State = self.server.state
        path = urlsplit(self.path).path
        try:
            body = self._body()
        except ValueError as exc:
            self._send(400, {"errors": [f"bad JSON: {exc}"]})
            return
        try:
            with st.lock:
                result = self._post(st, path, body)
        except Reply as r:
            self._send(r.status, r.body)
            return
        except (KeyError, TypeError, ValueError) as exc:
            self._send(400, {"errors": [f"bad admin request: {exc!r}"]})
            return
        self._send(200, result)
        if path == "/admin/shutdown":
            self.server.stop_event.set()

    def _post(self, st: State, path: str, body: dict) -> dict:
        if path == "/admin/seal":
            st.sealed = True
            return {"sealed": True}
        if path == "/admin/unseal":
            st.sealed = False
            return {"sealed": False}
        if path == "/admin/fault":
            fault = {"path": str(body.get("path", "*")), "count": int(body.get("count", 1))}
            for k in ("status", "retry_after", "delay", "oversize", "malformed", "drop", "errors"):
                if k in body:
                    fault[k] = body[k]
            if fault["count"] < 1:
                raise error_reply(400, "count must be >= 1")
            st.faults.append(fault)
            return {"faults": st.faults}
        if path == "/admin/clear-faults":
            st.faults.clear()
            return {"faults": []}
        if path == "/admin/token":
            rec = st._issue_token(token=body.get("token"), policies=list(body.get("policies", [])),
                                  ttl=parse_duration(body.get("ttl", 0)),
                                  max_ttl=parse_duration(body.get("max_ttl", 0)),
                                  renewable=bool(body.get("renewable", True)),
                                  path="auth/token/create", display_name="token",
                                  namespace=body.get("namespace"), source="admin")
            return {"token": rec["id"], "accessor": rec["accessor"]}
        if path == "/admin/revoke-token":
            token = body.get("token")
            if token is None and body.get("accessor"):
                token = next((r["id"] for r in st.tokens.values()
                              if r["accessor"] == body["accessor"]), None)
            return {"revoked": st.revoke_token(str(token), "admin")}
        if path == "/admin/revoke-lease":
            st._revoke_lease(str(body["lease_id"]), "admin")
            return {}
        if path == "/admin/kv":
            return st.kv_write(str(body["path"]), dict(body["data"]))
        if path == "/admin/kv-delete":
            return st.kv_delete(str(body["path"]), body.get("version"), bool(body.get("destroy")))
        if path == "/admin/wrap":
            token = st.add_wrapping_token(dict(body.get("data", {})),
                                          parse_duration(body.get("ttl", 300)), body.get("token"))
            return {"token": token}
        if path == "/admin/approle-secret-id":
            for roles in st.approle_mounts.values():
                if body["role"] in roles:
                    roles[body["role"]]["secret_ids"].add(str(body["secret_id"]))
                    return {}
            raise error_reply(404, f"no approle role {body['role']!r}")
        if path == "/admin/reset-log":
            st.log.clear()
            st.counts.clear()
            st.counts_by_method.clear()
            return {}
        if path == "/admin/shutdown":
            return {"shutdown": True}
        raise error_reply(404, f"unknown admin path {path}")


