#!/usr/bin/env python3
"""vault_double.py - a TEST DOUBLE of HashiCorp Vault's HTTP API, for lockbox tests only.

This is not Vault and holds no real secrets. It answers the subset of Vault's public
HTTP API that lockboxd uses, with Vault's paths, response envelopes, status codes and
error bodies (see README.md in this directory for the API pages each endpoint follows
and for what is not modelled). It adds a separate plain-HTTP admin endpoint on which
tests script faults and read what the client did.

Python 3.11 standard library only. Binds 127.0.0.1 (or --bind: an address inside a network
namespace the test made). Exits by itself after
--max-seconds, on SIGTERM/SIGINT, or on POST /admin/shutdown.
"""

import argparse
import hashlib
import json
import os
import secrets
import socket
import sys
import time
import uuid
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, unquote, urlsplit

import vault_auth_double
from doublelib import PlainThreadingServer, TLSThreadingServer, run, tls_context
import vault_pki_double  # pki/issue/ROLE (issue 17)
from vault_state import (ERR_APPROLE_LOGIN, ERR_BAD_WRAPPING_TOKEN, ERR_CERT_LOGIN, ERR_INTERNAL,
                         ERR_INVALID_TOKEN, ERR_PERMISSION_DENIED, ERR_SEALED,
                         KV1_DEFAULT_LEASE_SECONDS, SYSTEM_MAX_TTL, AdminHandler, Reply, State,
                         error_reply, go_duration, norm_namespace, now, parse_duration, rand62,
                         rfc3339)

# Vault's own limit on request bodies (api-docs/index: "Limits").
MAX_REQUEST_BYTES = 32 * 1024 * 1024
# Vault answers these even while sealed.
SEALED_OK_PATHS = ("sys/health", "sys/seal-status")


class VaultHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "vault-test-double"
    sys_version = ""
    timeout = 15  # idle keep-alive connections close after this long

    def log_message(self, fmt, *args):  # quiet: tests read /admin/requests instead
        pass

    @property
    def state(self) -> State:
        return self.server.state

    # ----- plumbing ---------------------------------------------------------------------
    def _send(self, status: int, body=None, headers: dict | None = None, raw: bytes | None = None):
        if raw is None:
            raw = b"" if body is None else (json.dumps(body) + "\n").encode()
        self.send_response(status)
        self.send_header("Cache-Control", "no-store")
        if raw or status != 204:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        for k, v in (headers or {}).items():
            self.send_header(k, str(v))
        self.end_headers()
        if raw and self.command != "HEAD":
            self.wfile.write(raw)
        self.wfile.flush()

    def _read_raw_body(self) -> bytes:
        """Always drains the body, so that keep-alive framing survives any early reply."""
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_REQUEST_BYTES:
            self.close_connection = True
            raise error_reply(413, "http: request body too large")
        return self.rfile.read(length) if length else b""

    @staticmethod
    def _parse_body(raw: bytes) -> dict:
        if not raw.strip():
            return {}
        try:
            body = json.loads(raw)
        except ValueError as exc:
            raise error_reply(400, f"failed to parse JSON input: {exc}") from None
        if not isinstance(body, dict):
            raise error_reply(400, "failed to parse JSON input: not an object")
        return body

    def _client_token(self) -> str:
        token = self.headers.get("X-Vault-Token", "")
        if not token:
            auth = self.headers.get("Authorization", "")
            if auth.startswith("Bearer "):
                token = auth[len("Bearer "):].strip()
        return token

    def _peer_fingerprint(self) -> str | None:
        try:
            der = self.connection.getpeercert(binary_form=True)
        except (AttributeError, ValueError):
            return None
        return hashlib.sha256(der).hexdigest() if der else None

    def _envelope(self, data=None, *, lease_id="", renewable=False, lease_duration=0,
                  warnings=None, auth=None, mount_type=""):
        return {
            "request_id": str(uuid.uuid4()),
            "lease_id": lease_id,
            "renewable": renewable,
            "lease_duration": lease_duration,
            "data": data,
            "wrap_info": None,
            "warnings": warnings,
            "auth": auth,
            "mount_type": mount_type,
        }

    # ----- entry points -----------------------------------------------------------------
    def do_GET(self):
        self._dispatch()

    def do_POST(self):
        self._dispatch()

    def do_PUT(self):
        self._dispatch()

    def do_DELETE(self):
        self._dispatch()

    def do_LIST(self):
        self._dispatch()

    def _dispatch(self):
        url = urlsplit(self.path)
        if not url.path.startswith("/v1/"):
            self._send(404, raw=b"404 page not found\n", headers={"Content-Type": "text/plain"})
            return
        path = unquote(url.path[len("/v1/"):]).strip("/")
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        st = self.state
        token = self._client_token()
        entry = {
            "t": now(),
            "method": self.command,
            "path": path,
            "query": url.query,
            "x_vault_request": self.headers.get("X-Vault-Request"),
            "x_vault_namespace": self.headers.get("X-Vault-Namespace"),
            "token_accessor": None,
            "has_token": bool(token),
            "client_cert": self._peer_fingerprint(),
            "status": None,
        }
        with st.lock:
            rec = st.tokens.get(token)
            if rec is not None:
                entry["token_accessor"] = rec["accessor"]
            st.log.append(entry)
            st.counts[path] = st.counts.get(path, 0) + 1
            key = f"{self.command} {path}"
            st.counts_by_method[key] = st.counts_by_method.get(key, 0) + 1
            sealed = st.sealed
            fault = None if (sealed and path not in SEALED_OK_PATHS) else st.take_fault(path)
        try:
            raw_body = self._read_raw_body()
            if sealed and path not in SEALED_OK_PATHS:
                raise error_reply(503, ERR_SEALED)
            if fault is not None and self._apply_fault(fault, entry):
                return
            body = self._parse_body(raw_body) if self.command in ("POST", "PUT") else {}
            status, payload, headers = self._route(path, query, body, token)
        except Reply as r:
            status, payload, headers = r.status, r.body, r.headers
        except Exception as exc:  # an internal bug of the double must still answer like Vault
            sys.stderr.write(f"vault_double: internal error on {path}: {exc!r}\n")
            status, payload, headers = 500, {"errors": [ERR_INTERNAL]}, {}
        entry["status"] = status
        self._send(status, payload, headers)

    def _apply_fault(self, fault: dict, entry: dict) -> bool:
        """Returns True when the fault replaced the reply."""
        if fault.get("delay"):
            time.sleep(float(fault["delay"]))
        if fault.get("drop"):
            entry["status"] = "dropped"
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return True
        if fault.get("oversize"):
            size = int(fault["oversize"])
            pad = "A" * max(0, size - 64)
            entry["status"] = 200
            self._send(200, raw=json.dumps(self._envelope({"pad": pad})).encode())
            return True
        if fault.get("malformed"):
            entry["status"] = 200
            self._send(200, raw=b'{"request_id":"' + str(uuid.uuid4()).encode() + b'","data":{"pass')
            return True
        status = fault.get("status")
        if not status:
            return False
        headers = {}
        if status == 429:
            errors = fault.get("errors") or [f'request path "{entry["path"]}": rate limit quota exceeded']
            headers["Retry-After"] = str(int(fault.get("retry_after", 1)))
        elif status == 503:
            errors = fault.get("errors") or [ERR_SEALED]
        else:
            errors = fault.get("errors") or [ERR_INTERNAL]
        if "retry_after" in fault and status != 429:
            headers["Retry-After"] = str(int(fault["retry_after"]))
        entry["status"] = status
        self._send(status, {"errors": errors}, headers)
        return True

    # ----- routing ----------------------------------------------------------------------
    def _route(self, path: str, query: dict, body: dict, token: str):
        st = self.state
        method = self.command
        ns = norm_namespace(self.headers.get("X-Vault-Namespace"))
        if path == "sys/health":
            return self._health()
        if path == "sys/seal-status":
            return 200, self._seal_status(), {}
        if path.startswith("sys/internal/ui/mounts/"):
            return self._ui_mount(path[len("sys/internal/ui/mounts/"):], token, ns)
        if (login := vault_auth_double.route(self, st, path, method, body, ns)) is not None:
            return login
        if path.startswith("auth/"):
            parts = path.split("/")
            if len(parts) == 3 and parts[2] == "login" and method in ("POST", "PUT"):
                if parts[1] in st.approle_mounts and ns == st.namespace:
                    return self._approle_login(parts[1], body)
                if parts[1] in st.cert_mounts and ns == st.namespace:
                    return self._cert_login(parts[1], body)
        if path == "sys/wrapping/unwrap" and method in ("POST", "PUT"):
            return self._unwrap(body, token, ns)

        # Everything below needs a valid token whose policies allow the path.
        with st.lock:
            rec = st.tokens.get(token)
            if not token:
                raise error_reply(403, ERR_PERMISSION_DENIED)
            if not st.token_valid(rec, ns):
                raise error_reply(403, ERR_INVALID_TOKEN)
            if not st.allowed(rec, path):
                raise error_reply(403, ERR_PERMISSION_DENIED)

        if path == "auth/token/lookup-self" and method in ("GET", "POST", "PUT"):
            return self._lookup_self(rec)
        if path == "auth/token/renew-self" and method in ("POST", "PUT"):
            return self._renew_self(rec, body)
        if path == "auth/token/revoke-self" and method in ("POST", "PUT"):
            with st.lock:
                st.revoke_token(rec["id"], "revoke-self")
            return 204, None, {}
        if path in ("sys/leases/renew", "sys/renew") and method in ("POST", "PUT"):
            return self._lease_renew(body)
        if path.startswith("sys/leases/renew/") and method in ("POST", "PUT"):
            body.setdefault("lease_id", path[len("sys/leases/renew/"):])
            return self._lease_renew(body)
        if path == "sys/leases/revoke" and method in ("POST", "PUT"):
            return self._lease_revoke(body)
        if path.startswith("sys/leases/revoke/") and method in ("POST", "PUT"):
            body.setdefault("lease_id", path[len("sys/leases/revoke/"):])
            return self._lease_revoke(body)
        if path == "sys/leases/lookup" and method in ("POST", "PUT"):
            return self._lease_lookup(body)

        mount = st.mount_of(path)
        if mount is not None and method in ("GET", "POST", "PUT"):
            m = st.mounts[mount]
            rel = path[len(mount):]
            if m["type"] == "kv" and method == "GET":
                if m["version"] == "2":
                    return self._kv2_read(mount, rel, query)
                return self._kv1_read(mount, rel)
            if m["type"] == "database" and rel.startswith("creds/"):
                return self._db_creds(path, rec)
            if m["type"] == "pki":
                return vault_pki_double.route(self, mount, m, rel, method, body)
        raise error_reply(404, f'no handler for route "{path}". route entry not found.')

    # ----- sys ----------------------------------------------------------------------------
    def _seal_status(self) -> dict:
        return {"type": "shamir", "initialized": True, "sealed": self.state.sealed, "t": 1, "n": 1,
                "progress": 0, "nonce": "", "version": "1.17.0-test-double", "build_date": "",
                "migration": False, "recovery_seal": False, "storage_type": "inmem"}

    def _health(self):
        st = self.state
        body = {"initialized": True, "sealed": st.sealed, "standby": False,
                "performance_standby": False, "replication_performance_mode": "disabled",
                "replication_dr_mode": "disabled", "server_time_utc": int(now()),
                "version": "1.17.0-test-double", "cluster_name": "vault-test-double",
                "cluster_id": "00000000-0000-0000-0000-000000000000"}
        return (503 if st.sealed else 200), body, {}

    def _ui_mount(self, raw_path: str, token: str, ns: str):
        st = self.state
        mpath = raw_path.strip("/") + "/"
        denied = error_reply(
            403, "preflight capability check returned 403, please ensure client's policies "
                 f'grant access to path "{mpath}"')
        with st.lock:
            mount = st.mount_of(mpath.rstrip("/"))
            if mount is None or ns != st.namespace:
                raise denied
            rec = st.tokens.get(token)
            if not token:
                raise error_reply(403, ERR_PERMISSION_DENIED)
            if not st.token_valid(rec, ns):
                raise error_reply(403, ERR_INVALID_TOKEN)
            if not st.has_mount_access(rec, mount):
                raise denied
            m = st.mounts[mount]
        data = {
            "accessor": m["accessor"],
            "config": {"default_lease_ttl": 0, "force_no_cache": False, "max_lease_ttl": 0},
            "deprecation_status": "supported",
            "description": m["description"],
            "external_entropy_access": False,
            "local": False,
            "options": m["options"],
            "path": (ns + mount) if ns else mount,
            "plugin_version": "",
            "running_plugin_version": "v0.0.0+builtin",
            "running_sha256": "",
            "seal_wrap": False,
            "type": m["type"],
            "uuid": m["uuid"],
        }
        return 200, self._envelope(data), {}

    # ----- kv -----------------------------------------------------------------------------
    def _kv1_read(self, mount: str, rel: str):
        st = self.state
        with st.lock:
            entry = st.kv.get(mount + rel)
            data = dict(entry["data"]) if entry else None
        if data is None:
            raise error_reply(404)
        lease = KV1_DEFAULT_LEASE_SECONDS
        if "ttl" in data:
            try:
                lease = parse_duration(data["ttl"])
            except ValueError:
                pass
        return 200, self._envelope(data, lease_duration=lease, mount_type="kv"), {}

    def _kv2_read(self, mount: str, rel: str, query: dict):
        st = self.state
        if not rel.startswith("data/"):
            resp = self._envelope(None, mount_type="kv")
            resp["warnings"] = [
                "Invalid path for a versioned K/V secrets engine. See the API docs for the "
                "appropriate API endpoints to use. If using the Vault CLI, use 'vault kv get' "
                "for this operation."]
            return 404, resp, {}
        key = mount + rel[len("data/"):]
        try:
            want = int(query.get("version", "0") or 0)
        except ValueError:
            raise error_reply(400, "error converting input for field \"version\"") from None
        with st.lock:
            entry = st.kv.get(key)
            if entry is None or not entry["versions"]:
                raise error_reply(404)
            ver = want if want > 0 else len(entry["versions"])
            if ver > len(entry["versions"]):
                raise error_reply(404)
            vm = dict(entry["versions"][ver - 1])
        metadata = {
            "created_time": rfc3339(vm["created_time"]),
            "custom_metadata": None,
            "deletion_time": rfc3339(vm["deletion_time"]) if vm["deletion_time"] else "",
            "destroyed": vm["destroyed"],
            "version": ver,
        }
        gone = vm["destroyed"] or (vm["deletion_time"] is not None and vm["deletion_time"] <= now())
        data = {"data": None if gone else dict(vm["data"]), "metadata": metadata}
        return (404 if gone else 200), self._envelope(data, mount_type="kv"), {}

    # ----- dynamic secrets ----------------------------------------------------------------
    def _db_creds(self, path: str, rec: dict):
        st = self.state
        with st.lock:
            role = st.db_roles.get(path)
            if role is None:
                raise error_reply(400, f"unknown role: {path.rsplit('/', 1)[-1]}")
            t = now()
            ttl = min(role["default_ttl"], role["max_ttl"]) if role["max_ttl"] else role["default_ttl"]
            lease_id = f"{path}/{rand62(24)}"
            data = {
                "username": f"v-{rec['display_name'][:8]}-{role['name'][:8]}-{rand62(20)}-{int(t)}",
                "password": rand62(20),
            }
            data.update(role["fields"])
            st.leases[lease_id] = {
                "lease_id": lease_id,
                "path": path,
                "token": rec["id"],
                "issue": t,
                "expire": t + ttl,
                "max_expire": t + role["max_ttl"] if role["max_ttl"] else t + SYSTEM_MAX_TTL,
                "default_ttl": role["default_ttl"],
                "renewable": role["renewable"],
                "renewals": 0,
                "last_renewal": None,
            }
        return 200, self._envelope(data, lease_id=lease_id, renewable=role["renewable"],
                                   lease_duration=ttl, mount_type="database"), {}

    def _lease_renew(self, body: dict):
        st = self.state
        lease_id = str(body.get("lease_id", ""))
        if not lease_id:
            raise error_reply(400, "lease_id must be specified")
        try:
            increment = parse_duration(body.get("increment", 0))
        except ValueError as exc:
            raise error_reply(400, str(exc)) from None
        with st.lock:
            st.sweep_leases()
            lease = st.leases.get(lease_id)
            if lease is None:
                raise error_reply(400, "lease not found")
            if not lease["renewable"]:
                raise error_reply(400, "lease is not renewable")
            t = now()
            ttl = increment if increment > 0 else lease["default_ttl"]
            remaining = int(lease["max_expire"] - t)
            warnings = None
            if remaining <= 0:
                raise error_reply(400, "past the max TTL, cannot renew")
            if ttl > remaining:
                warnings = [f'TTL of "{go_duration(ttl)}" exceeded the effective max_ttl of '
                            f'"{go_duration(remaining)}"; TTL value is capped accordingly']
                ttl = remaining
            lease["expire"] = t + ttl
            lease["renewals"] += 1
            lease["last_renewal"] = t
            mount = st.mount_of(lease["path"])
            mtype = st.mounts[mount]["type"] if mount else ""
        return 200, self._envelope(None, lease_id=lease_id, renewable=True, lease_duration=ttl,
                                   warnings=warnings, mount_type=mtype), {}

    def _lease_revoke(self, body: dict):
        st = self.state
        lease_id = str(body.get("lease_id", ""))
        if not lease_id:
            raise error_reply(400, "lease_id must be specified")
        with st.lock:
            st.sweep_leases()
            st._revoke_lease(lease_id, "revoked")
        if body.get("sync") in (True, "true"):
            return 204, None, {}
        return 202, None, {}

    def _lease_lookup(self, body: dict):
        st = self.state
        lease_id = str(body.get("lease_id", ""))
        if not lease_id:
            raise error_reply(400, "lease_id must be specified")
        with st.lock:
            st.sweep_leases()
            lease = st.leases.get(lease_id)
            if lease is None:
                raise error_reply(400, "invalid lease")
            data = {
                "id": lease_id,
                "issue_time": rfc3339(lease["issue"]),
                "expire_time": rfc3339(lease["expire"]),
                "last_renewal": rfc3339(lease["last_renewal"]),
                "renewable": lease["renewable"],
                "ttl": max(0, int(lease["expire"] - now())),
            }
        return 200, self._envelope(data), {}

    # ----- tokens and auth ----------------------------------------------------------------
    def _auth_block(self, rec: dict, metadata: dict | None) -> dict:
        return {
            "client_token": rec["id"],
            "accessor": rec["accessor"],
            "policies": rec["policies"],
            "token_policies": rec["policies"],
            "identity_policies": None,
            "metadata": metadata,
            "lease_duration": rec["ttl"],
            "renewable": rec["renewable"],
            "entity_id": "",
            "token_type": "service",
            "orphan": True,
            "mfa_requirement": None,
            "num_uses": 0,
        }

    def _lookup_self(self, rec: dict):
        t = now()
        data = {
            "accessor": rec["accessor"],
            "creation_time": int(rec["creation_time"]),
            "creation_ttl": rec["creation_ttl"],
            "display_name": rec["display_name"],
            "entity_id": "",
            "expire_time": rfc3339(rec["expire"]),
            "explicit_max_ttl": rec["explicit_max_ttl"],
            "id": rec["id"],
            "issue_time": rfc3339(rec["creation_time"]),
            "meta": rec["meta"],
            "num_uses": 0,
            "orphan": True,
            "path": rec["path"],
            "policies": rec["policies"],
            "renewable": rec["renewable"],
            "ttl": max(0, int(rec["expire"] - t)) if rec["expire"] else 0,
            "type": "service",
        }
        return 200, self._envelope(data, mount_type="token"), {}

    def _renew_self(self, rec: dict, body: dict):
        st = self.state
        try:
            increment = parse_duration(body.get("increment", 0))
        except ValueError as exc:
            raise error_reply(400, str(exc)) from None
        with st.lock:
            if not rec["renewable"]:
                raise error_reply(400, "lease is not renewable")
            t = now()
            ttl = increment if increment > 0 else rec["creation_ttl"]
            warnings = None
            if rec["max_expire"] is not None:
                remaining = int(rec["max_expire"] - t)
                if remaining <= 0:
                    raise error_reply(400, "past the max TTL, cannot renew")
                if ttl > remaining:
                    warnings = [f'TTL of "{go_duration(ttl)}" exceeded the effective max_ttl of '
                                f'"{go_duration(remaining)}"; TTL value is capped accordingly']
                    ttl = remaining
            rec["ttl"] = ttl
            rec["expire"] = t + ttl
            rec["renewals"] += 1
            auth = self._auth_block(rec, rec["meta"])
        return 200, self._envelope(None, warnings=warnings, auth=auth, mount_type="token"), {}

    def _approle_login(self, mount: str, body: dict):
        st = self.state
        role_id = str(body.get("role_id", ""))
        secret_id = str(body.get("secret_id", ""))
        if not role_id:
            raise error_reply(400, "missing role_id")
        with st.lock:
            for name, role in st.approle_mounts[mount].items():
                if secrets.compare_digest(role["role_id"], role_id):
                    break
            else:
                raise error_reply(400, ERR_APPROLE_LOGIN)
            if not secret_id:
                raise error_reply(400, "missing secret_id")
            if secret_id not in role["secret_ids"]:
                raise error_reply(400, ERR_APPROLE_LOGIN)
            meta = {"role_name": name}
            rec = st._issue_token(policies=role["policies"], ttl=role["ttl"], max_ttl=role["max_ttl"],
                                  renewable=True, path=f"auth/{mount}/login",
                                  display_name=mount, meta=meta, source=f"approle:{name}")
            auth = self._auth_block(rec, meta)
        return 200, self._envelope(None, auth=auth), {}

    def _cert_login(self, mount: str, body: dict):
        st = self.state
        fp = self._peer_fingerprint()
        want = str(body.get("name", ""))
        with st.lock:
            match = None
            for name, c in st.cert_mounts[mount].items():
                if fp and c["fingerprint"] == fp and (not want or want == name):
                    match = (name, c)
                    break
            if match is None:
                raise error_reply(400, ERR_CERT_LOGIN)
            name, c = match
            meta = {"cert_name": name, "common_name": self._peer_common_name() or "",
                    "serial_number": "", "subject_key_id": "", "authority_key_id": ""}
            rec = st._issue_token(policies=c["policies"], ttl=c["ttl"], max_ttl=c["max_ttl"],
                                  renewable=True, path=f"auth/{mount}/login",
                                  display_name=f"{mount}-{c['display_name']}", meta=meta,
                                  source=f"cert:{name}")
            auth = self._auth_block(rec, meta)
        return 200, self._envelope(None, auth=auth), {}

    def _peer_common_name(self) -> str | None:
        try:
            cert = self.connection.getpeercert()
        except (AttributeError, ValueError):
            return None
        for rdn in (cert or {}).get("subject", ()):
            for k, v in rdn:
                if k == "commonName":
                    return v
        return None

    def _unwrap(self, body: dict, header_token: str, ns: str):
        st = self.state
        wtoken = str(body.get("token", "")) or header_token
        with st.lock:
            if body.get("token") and header_token:
                rec = st.tokens.get(header_token)
                if not st.token_valid(rec, ns):
                    raise error_reply(403, ERR_INVALID_TOKEN)
            w = st.wrapping.pop(wtoken, None)  # single use: gone whatever happens next
            if w is None or w["expire"] <= now() or ns != st.namespace:
                raise error_reply(400, ERR_BAD_WRAPPING_TOKEN)
        return 200, self._envelope(w["data"]), {}



def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="HashiCorp Vault HTTP API test double (tests only)")
    ap.add_argument("--seed", required=True, help="JSON seed file (see README.md)")
    ap.add_argument("--tls-dir", help="directory made by make_ca.sh (server.crt, server.key, ca.crt)")
    ap.add_argument("--cert", help="server certificate PEM (overrides --tls-dir)")
    ap.add_argument("--key", help="server key PEM (overrides --tls-dir)")
    ap.add_argument("--client-ca", help="CA PEM for optional client certificates")
    ap.add_argument("--bind", default="127.0.0.1",
                    help="listen address (tests: 127.0.0.1 or one inside their own netns)")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--admin-port", type=int, default=0)
    ap.add_argument("--admin-port-file")
    ap.add_argument("--max-seconds", type=float, default=300.0,
                    help="exit after this many seconds (bounded to 3600)")
    args = ap.parse_args(argv)

    cert = args.cert or (args.tls_dir and os.path.join(args.tls_dir, "server.crt"))
    key = args.key or (args.tls_dir and os.path.join(args.tls_dir, "server.key"))
    client_ca = args.client_ca or (args.tls_dir and os.path.join(args.tls_dir, "ca.crt"))
    if not cert or not key:
        ap.error("need --tls-dir or --cert and --key")
    max_seconds = min(max(args.max_seconds, 1.0), 3600.0)

    with open(args.seed, "r", encoding="utf-8") as fh:
        state = State(json.load(fh))

    api = TLSThreadingServer((args.bind, args.port), VaultHandler,
                             tls_context(cert, key, client_ca))
    admin = PlainThreadingServer((args.bind, args.admin_port), AdminHandler)
    for srv in (api, admin):
        srv.state = state
    return run("vault_double", [("admin", admin, args.admin_port_file),
                                ("api", api, args.port_file)], max_seconds)


if __name__ == "__main__":
    sys.exit(main())
