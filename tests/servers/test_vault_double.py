#!/usr/bin/env python3
"""Self-test of vault_double.py (a test double of Vault's HTTP API).

Starts the double over HTTPS with a throwaway CA from make_ca.sh and checks every
behaviour lockboxd relies on against the shapes in Vault's API documentation.
Standard library only. Exit 77 (skip) when openssl is missing, unless LOCKBOX_MUST_WORK=1.
"""

import http.client
import json
import os
import re
import socket
import ssl
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from doublelib import DoubleTestCase, selftest_main  # noqa: E402

PERM_DENIED = "1 error occurred:\n\t* permission denied\n\n"
INVALID_TOKEN = "2 errors occurred:\n\t* permission denied\n\t* invalid token\n\n"
ENVELOPE_KEYS = {"request_id", "lease_id", "renewable", "lease_duration", "data", "wrap_info",
                 "warnings", "auth"}


def make_seed(tls: str) -> dict:
    return {
        "mounts": {
            "secret/": {"type": "kv", "version": 2, "secrets": {
                "web": [{"data": {"password": "v1-pass"}},
                        {"data": {"password": "v2-pass", "user": "web"}}],
                "gone": [{"data": {"a": "1"}, "deleted": True},
                         {"data": {"a": "2"}, "destroyed": True},
                         {"data": {"a": "3"}}],
                "shared": {"value": "s1"},
            }},
            "kv1/": {"type": "kv", "version": 1, "secrets": {
                "app": {"key": "k1"}, "withttl": {"key": "k2", "ttl": "1h"}}},
            "database/": {"type": "database", "roles": {
                "web": {"default_ttl": 20, "max_ttl": 30},
                "short": {"default_ttl": 1, "max_ttl": 1}}},
        },
        "policies": {
            "web": ["secret/data/*", "kv1/*", "database/creds/*", "sys/leases/revoke"],
            "narrow": ["secret/data/web"],
        },
        "tokens": {
            "root-tok": {"policies": ["root"]},
            "web-tok": {"policies": ["web"], "ttl": 600, "max_ttl": 700},
            "narrow-tok": {"policies": ["narrow"], "ttl": 600},
        },
        "approle": {"mount": "approle", "roles": {"web": {
            "role_id": "role-web", "secret_ids": ["sid-1", "sid-wrapped"],
            "token_policies": ["web"], "token_ttl": 60, "token_max_ttl": 120}}},
        "cert": {"mount": "cert", "certs": {"web": {
            "certificate_file": os.path.join(tls, "client.crt"),
            "token_policies": ["web"], "token_ttl": 60}}},
        "wrapping_tokens": {"wrap-1": {"data": {"secret_id": "sid-wrapped",
                                                "secret_id_accessor": "acc-1"}, "ttl": 300}},
    }


class VaultDoubleTest(DoubleTestCase):
    @classmethod
    def setUpClass(cls):
        cls.make_tls("vault-double-test.")
        seed = cls.write_seed(make_seed(cls.tls))
        port_file = os.path.join(cls.tmp, "port")
        admin_file = os.path.join(cls.tmp, "admin-port")
        cls.port, cls.admin_port = cls.start_double(
            "vault_double.py", ["--seed", seed, "--tls-dir", cls.tls, "--port-file", port_file,
                                "--admin-port-file", admin_file, "--max-seconds", "120"],
            [port_file, admin_file], seconds=15)

    # ----- helpers ----------------------------------------------------------------------
    def ctx_for(self, cert=None):
        c = ssl.create_default_context(cafile=os.path.join(self.tls, "ca.crt"))
        if cert:
            c.load_cert_chain(os.path.join(self.tls, cert + ".crt"),
                              os.path.join(self.tls, cert + ".key"))
        return c

    def api(self, method, path, body=None, token=None, headers=None, cert=None, conn=None):
        hdrs = {"X-Vault-Request": "true"}
        if token:
            hdrs["X-Vault-Token"] = token
        hdrs.update(headers or {})
        payload = json.dumps(body).encode() if body is not None else None
        if conn is None:
            st, parsed, resp = self.request(method, "/v1/" + path, payload, hdrs,
                                            ctx=self.ctx_for(cert))
            return st, resp, None if parsed == b"" else parsed
        conn.request(method, "/v1/" + path, body=payload, headers=hdrs)
        resp = conn.getresponse()
        raw = resp.read()
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = raw
        return resp.status, resp, parsed

    def admin(self, method, path, body=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.admin_port, timeout=10)
        conn.request(method, path, body=json.dumps(body).encode() if body is not None else None)
        resp = conn.getresponse()
        data = json.loads(resp.read())
        conn.close()
        self.assertEqual(resp.status, 200, data)
        return data

    def assertEnvelope(self, body):
        self.assertIsInstance(body, dict)
        self.assertTrue(ENVELOPE_KEYS <= set(body), body)

    # ----- transport --------------------------------------------------------------------
    def test_tls_keepalive_and_request_headers(self):
        conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ctx_for(),
                                           timeout=10)
        st1, _, h1 = self.api("GET", "sys/health", conn=conn)
        sock = conn.sock
        st2, _, _ = self.api("GET", "kv1/app", token="web-tok", conn=conn,
                             headers={"X-Vault-Namespace": ""})
        self.assertIs(conn.sock, sock, "HTTP/1.1 keep-alive connection was not reused")
        conn.close()
        self.assertEqual((st1, st2), (200, 200))
        self.assertFalse(h1["sealed"])
        log = self.admin("GET", "/admin/requests")["log"]
        last = [e for e in log if e["path"] == "kv1/app"][-1]
        self.assertEqual(last["x_vault_request"], "true")
        self.assertTrue(last["has_token"])
        self.assertIsNotNone(last["token_accessor"])
        self.assertEqual(last["status"], 200)
        # The double only speaks TLS and only on loopback.
        plain = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        with self.assertRaises((http.client.HTTPException, ConnectionError, OSError)):
            plain.request("GET", "/v1/sys/health")
            plain.getresponse().read()
        plain.close()

    def test_unknown_route(self):
        st, _, body = self.api("GET", "nosuchmount/x", token="root-tok")
        self.assertEqual(st, 404)
        self.assertEqual(body, {"errors": ['no handler for route "nosuchmount/x". route entry not found.']})

    # ----- mounts endpoint --------------------------------------------------------------
    def test_ui_mounts_reports_kv_version_as_string(self):
        st, _, body = self.api("GET", "sys/internal/ui/mounts/secret/web", token="web-tok")
        self.assertEqual(st, 200, body)
        self.assertEnvelope(body)
        self.assertEqual(body["data"]["type"], "kv")
        self.assertEqual(body["data"]["path"], "secret/")
        self.assertEqual(body["data"]["options"], {"version": "2"})
        st, _, body = self.api("GET", "sys/internal/ui/mounts/kv1/app", token="web-tok")
        self.assertEqual((st, body["data"]["options"]["version"], body["data"]["path"]),
                         (200, "1", "kv1/"))
        st, _, body = self.api("GET", "sys/internal/ui/mounts/database/creds/web", token="web-tok")
        self.assertEqual((st, body["data"]["type"], body["data"]["options"]), (200, "database", None))

    def test_ui_mounts_denied(self):
        st, _, body = self.api("GET", "sys/internal/ui/mounts/kv1/app", token="narrow-tok")
        self.assertEqual(st, 403)
        self.assertEqual(body, {"errors": [
            "preflight capability check returned 403, please ensure client's policies grant "
            'access to path "kv1/app/"']})
        st, _, body = self.api("GET", "sys/internal/ui/mounts/nomount/x", token="root-tok")
        self.assertEqual(st, 403)
        self.assertIn("preflight capability check returned 403", body["errors"][0])

    # ----- kv -----------------------------------------------------------------------------
    def test_kv2_read_latest_and_pinned(self):
        st, _, body = self.api("GET", "secret/data/web", token="web-tok")
        self.assertEqual(st, 200, body)
        self.assertEnvelope(body)
        self.assertEqual(body["data"]["data"], {"password": "v2-pass", "user": "web"})
        md = body["data"]["metadata"]
        self.assertEqual(md["version"], 2)
        self.assertEqual(md["deletion_time"], "")
        self.assertIs(md["destroyed"], False)
        self.assertRegex(md["created_time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$")
        self.assertEqual((body["lease_id"], body["lease_duration"], body["renewable"]), ("", 0, False))
        st, _, body = self.api("GET", "secret/data/web?version=1", token="web-tok")
        self.assertEqual((st, body["data"]["data"], body["data"]["metadata"]["version"]),
                         (200, {"password": "v1-pass"}, 1))
        st, _, body = self.api("GET", "secret/data/web?version=9", token="web-tok")
        self.assertEqual((st, body), (404, {"errors": []}))
        st, _, body = self.api("GET", "secret/data/nosuch", token="web-tok")
        self.assertEqual((st, body), (404, {"errors": []}))

    def test_kv2_deleted_and_destroyed_versions(self):
        st, _, body = self.api("GET", "secret/data/gone?version=1", token="web-tok")
        self.assertEqual(st, 404)
        self.assertEnvelope(body)
        self.assertIsNone(body["data"]["data"])
        self.assertNotEqual(body["data"]["metadata"]["deletion_time"], "")
        self.assertIs(body["data"]["metadata"]["destroyed"], False)
        st, _, body = self.api("GET", "secret/data/gone?version=2", token="web-tok")
        self.assertEqual(st, 404)
        self.assertIsNone(body["data"]["data"])
        self.assertIs(body["data"]["metadata"]["destroyed"], True)
        st, _, body = self.api("GET", "secret/data/gone", token="web-tok")
        self.assertEqual((st, body["data"]["data"]), (200, {"a": "3"}))

    def test_kv1_read(self):
        st, _, body = self.api("GET", "kv1/app", token="web-tok")
        self.assertEqual(st, 200, body)
        self.assertEnvelope(body)
        self.assertEqual(body["data"], {"key": "k1"})
        self.assertEqual((body["lease_id"], body["renewable"], body["lease_duration"]),
                         ("", False, 2764800))
        st, _, body = self.api("GET", "kv1/withttl", token="web-tok")
        self.assertEqual((st, body["lease_duration"]), (200, 3600))
        st, _, body = self.api("GET", "kv1/nosuch", token="web-tok")
        self.assertEqual((st, body), (404, {"errors": []}))

    def test_admin_kv_write_new_version_and_request_counts(self):
        self.admin("POST", "/admin/kv", {"path": "secret/shared", "data": {"value": "s2"}})
        before = self.admin("GET", "/admin/requests")["counts"].get("secret/data/shared", 0)
        for _ in range(3):
            st, _, body = self.api("GET", "secret/data/shared", token="web-tok")
            self.assertEqual(st, 200)
        self.assertEqual(body["data"]["data"], {"value": "s2"})
        self.assertEqual(body["data"]["metadata"]["version"], 2)
        counts = self.admin("GET", "/admin/requests")
        self.assertEqual(counts["counts"]["secret/data/shared"], before + 3)
        self.assertGreaterEqual(counts["counts_by_method"]["GET secret/data/shared"], 3)
        self.admin("POST", "/admin/kv-delete", {"path": "secret/shared", "version": 2})
        st, _, body = self.api("GET", "secret/data/shared", token="web-tok")
        self.assertEqual((st, body["data"]["data"]), (404, None))

    # ----- tokens and ACL -----------------------------------------------------------------
    def test_acl_and_invalid_token_bodies(self):
        st, _, body = self.api("GET", "kv1/app", token="narrow-tok")
        self.assertEqual((st, body), (403, {"errors": [PERM_DENIED]}))
        st, _, body = self.api("GET", "kv1/app", token="no-such-token")
        self.assertEqual((st, body), (403, {"errors": [INVALID_TOKEN]}))
        st, _, body = self.api("GET", "kv1/app")
        self.assertEqual((st, body), (403, {"errors": [PERM_DENIED]}))
        st, _, body = self.api("GET", "kv1/app", token="web-tok",
                               headers={"X-Vault-Namespace": "other-ns/"})
        self.assertEqual((st, body), (403, {"errors": [INVALID_TOKEN]}))
        # Authorization: Bearer is accepted like X-Vault-Token.
        st, _, _ = self.api("GET", "kv1/app", headers={"Authorization": "Bearer web-tok"})
        self.assertEqual(st, 200)

    def test_token_ttl_expiry(self):
        self.admin("POST", "/admin/token", {"token": "short-tok", "policies": ["web"], "ttl": 1})
        st, _, _ = self.api("GET", "kv1/app", token="short-tok")
        self.assertEqual(st, 200)
        time.sleep(1.2)
        st, _, body = self.api("GET", "kv1/app", token="short-tok")
        self.assertEqual((st, body), (403, {"errors": [INVALID_TOKEN]}))

    def test_lookup_self(self):
        st, _, body = self.api("GET", "auth/token/lookup-self", token="web-tok")
        self.assertEqual(st, 200, body)
        self.assertEnvelope(body)
        d = body["data"]
        self.assertEqual(d["id"], "web-tok")
        self.assertEqual(d["policies"], ["default", "web"])
        self.assertTrue(590 <= d["ttl"] <= 600, d["ttl"])
        self.assertEqual((d["creation_ttl"], d["explicit_max_ttl"], d["renewable"], d["type"]),
                         (600, 700, True, "service"))
        self.assertIsInstance(d["expire_time"], str)

    def test_renew_self_capped_at_max_ttl(self):
        minted = self.admin("POST", "/admin/token", {"policies": ["web"], "ttl": 20, "max_ttl": 30})
        self.assertTrue(minted["token"].startswith("hvs."))
        st, _, body = self.api("POST", "auth/token/renew-self", {"increment": "10m"},
                               token=minted["token"])
        self.assertEqual(st, 200, body)
        self.assertEnvelope(body)
        auth = body["auth"]
        self.assertEqual(auth["client_token"], minted["token"])
        self.assertTrue(28 <= auth["lease_duration"] <= 30, auth["lease_duration"])
        self.assertTrue(auth["renewable"])
        self.assertEqual(len(body["warnings"]), 1)
        self.assertRegex(body["warnings"][0], r'^TTL of "10m0s" exceeded the effective max_ttl of '
                                              r'"(28|29|30)s"; TTL value is capped accordingly$')
        st, _, body = self.api("POST", "auth/token/renew-self", {}, token="root-tok")
        self.assertEqual((st, body), (400, {"errors": ["lease is not renewable"]}))

    # ----- leases -------------------------------------------------------------------------
    def test_dynamic_lease_renew_and_revoke(self):
        st, _, body = self.api("GET", "database/creds/web", token="web-tok")
        self.assertEqual(st, 200, body)
        self.assertEnvelope(body)
        lease = body["lease_id"]
        self.assertRegex(lease, r"^database/creds/web/[A-Za-z0-9]{24}$")
        self.assertEqual((body["renewable"], body["lease_duration"]), (True, 20))
        self.assertEqual(set(body["data"]), {"username", "password"})
        st, _, other = self.api("GET", "database/creds/web", token="web-tok")
        self.assertNotEqual(other["lease_id"], lease)
        self.assertNotEqual(other["data"]["password"], body["data"]["password"])

        st, _, r = self.api("PUT", "sys/leases/renew", {"lease_id": lease}, token="web-tok")
        self.assertEqual((st, r["lease_id"], r["lease_duration"], r["warnings"]), (200, lease, 20, None))
        st, _, r = self.api("PUT", "sys/leases/renew", {"lease_id": lease, "increment": 3600},
                            token="web-tok")
        self.assertEqual(st, 200, r)
        self.assertTrue(28 <= r["lease_duration"] <= 30)
        self.assertRegex(r["warnings"][0], r'^TTL of "1h0m0s" exceeded the effective max_ttl of '
                                           r'"(28|29|30)s"; TTL value is capped accordingly$')

        st, _, r = self.api("PUT", "sys/leases/revoke", {"lease_id": lease}, token="web-tok")
        self.assertEqual((st, r), (202, None))
        leases = self.admin("GET", "/admin/leases")
        self.assertIn({"lease_id": lease, "reason": "revoked"},
                      [{"lease_id": x["lease_id"], "reason": x["reason"]} for x in leases["revoked"]])
        self.assertNotIn(lease, [x["lease_id"] for x in leases["live"]])
        self.assertIn(other["lease_id"], [x["lease_id"] for x in leases["live"]])
        st, _, r = self.api("PUT", "sys/leases/renew", {"lease_id": lease}, token="web-tok")
        self.assertEqual((st, r), (400, {"errors": ["lease not found"]}))
        # sys/leases/revoke is not in the default policy.
        st, _, r = self.api("PUT", "sys/leases/revoke", {"lease_id": other["lease_id"]},
                            token="narrow-tok")
        self.assertEqual((st, r), (403, {"errors": [PERM_DENIED]}))

    def test_lease_expires(self):
        st, _, body = self.api("GET", "database/creds/short", token="web-tok")
        self.assertEqual((st, body["lease_duration"]), (200, 1))
        time.sleep(1.2)
        st, _, r = self.api("PUT", "sys/leases/renew", {"lease_id": body["lease_id"]}, token="web-tok")
        self.assertEqual((st, r), (400, {"errors": ["lease not found"]}))
        revoked = self.admin("GET", "/admin/leases")["revoked"]
        self.assertIn((body["lease_id"], "expired"), [(x["lease_id"], x["reason"]) for x in revoked])

    # ----- auth methods -------------------------------------------------------------------
    def test_approle_login_and_token_revocation(self):
        st, _, body = self.api("POST", "auth/approle/login", {"role_id": "role-web", "secret_id": "bad"})
        self.assertEqual((st, body), (400, {"errors": ["invalid role or secret ID"]}))
        st, _, body = self.api("POST", "auth/approle/login", {"role_id": "nope", "secret_id": "sid-1"})
        self.assertEqual((st, body), (400, {"errors": ["invalid role or secret ID"]}))
        st, _, body = self.api("POST", "auth/approle/login", {"role_id": "role-web", "secret_id": "sid-1"})
        self.assertEqual(st, 200, body)
        self.assertEnvelope(body)
        auth = body["auth"]
        self.assertTrue(auth["client_token"].startswith("hvs."))
        self.assertEqual((auth["lease_duration"], auth["renewable"], auth["metadata"]),
                         (60, True, {"role_name": "web"}))
        self.assertEqual(auth["policies"], ["default", "web"])
        token = auth["client_token"]
        st, _, creds = self.api("GET", "database/creds/web", token=token)
        self.assertEqual(st, 200)
        self.admin("POST", "/admin/revoke-token", {"accessor": auth["accessor"]})
        st, _, body = self.api("GET", "kv1/app", token=token)
        self.assertEqual((st, body), (403, {"errors": [INVALID_TOKEN]}))
        revoked = self.admin("GET", "/admin/leases")["revoked"]
        self.assertIn((creds["lease_id"], "token revoked"),
                      [(x["lease_id"], x["reason"]) for x in revoked])

    def test_unwrap_is_single_use(self):
        st, _, body = self.api("POST", "sys/wrapping/unwrap", {}, token="wrap-1")
        self.assertEqual(st, 200, body)
        self.assertEnvelope(body)
        self.assertEqual(body["data"]["secret_id"], "sid-wrapped")
        st, _, again = self.api("POST", "sys/wrapping/unwrap", {}, token="wrap-1")
        self.assertEqual((st, again), (400, {"errors": ["wrapping token is not valid or does not exist"]}))
        st, _, login = self.api("POST", "auth/approle/login",
                                {"role_id": "role-web", "secret_id": body["data"]["secret_id"]})
        self.assertEqual(st, 200)
        fresh = self.admin("POST", "/admin/wrap", {"data": {"secret_id": "sid-1"}, "ttl": 60})["token"]
        st, _, body = self.api("POST", "sys/wrapping/unwrap", {"token": fresh},
                               token=login["auth"]["client_token"])
        self.assertEqual((st, body["data"]), (200, {"secret_id": "sid-1"}))

    def test_cert_login(self):
        st, _, body = self.api("POST", "auth/cert/login", {}, cert="client")
        self.assertEqual(st, 200, body)
        self.assertEnvelope(body)
        self.assertEqual(body["auth"]["metadata"]["cert_name"], "web")
        self.assertEqual(body["auth"]["metadata"]["common_name"], "lockbox-test-client")
        st, _, _ = self.api("GET", "kv1/app", token=body["auth"]["client_token"])
        self.assertEqual(st, 200)
        for cert in (None, "client2"):
            st, _, body = self.api("POST", "auth/cert/login", {}, cert=cert)
            self.assertEqual((st, body), (400, {"errors": [
                "invalid certificate or no client certificate supplied"]}), cert)

    # ----- faults -------------------------------------------------------------------------
    def test_sealed(self):
        self.admin("POST", "/admin/seal")
        try:
            st, _, body = self.api("GET", "secret/data/web", token="web-tok")
            self.assertEqual((st, body), (503, {"errors": ["Vault is sealed"]}))
            st, _, body = self.api("POST", "auth/approle/login",
                                   {"role_id": "role-web", "secret_id": "sid-1"})
            self.assertEqual((st, body), (503, {"errors": ["Vault is sealed"]}))
            st, _, body = self.api("GET", "sys/seal-status")
            self.assertEqual((st, body["sealed"]), (200, True))
        finally:
            self.admin("POST", "/admin/unseal")
        st, _, _ = self.api("GET", "secret/data/web", token="web-tok")
        self.assertEqual(st, 200)

    def test_fault_status_codes(self):
        try:
            self.admin("POST", "/admin/fault", {"path": "kv1/app", "status": 429, "retry_after": 3,
                                                "count": 2})
            for _ in range(2):
                st, resp, body = self.api("GET", "kv1/app", token="web-tok")
                self.assertEqual((st, resp.getheader("Retry-After")), (429, "3"))
                self.assertEqual(body, {"errors": ['request path "kv1/app": rate limit quota exceeded']})
            st, _, _ = self.api("GET", "kv1/app", token="web-tok")
            self.assertEqual(st, 200)
            self.admin("POST", "/admin/fault", {"path": "kv1/", "status": 500})
            st, _, body = self.api("GET", "kv1/app", token="web-tok")
            self.assertEqual((st, body), (500, {"errors": ["internal error"]}))
            self.admin("POST", "/admin/fault", {"path": "kv1/app", "status": 503})
            st, _, body = self.api("GET", "kv1/app", token="web-tok")
            self.assertEqual((st, body), (503, {"errors": ["Vault is sealed"]}))
        finally:
            self.admin("POST", "/admin/clear-faults")

    def test_fault_delay_oversize_malformed_drop(self):
        try:
            self.admin("POST", "/admin/fault", {"path": "kv1/app", "delay": 0.4})
            t0 = time.monotonic()
            st, _, body = self.api("GET", "kv1/app", token="web-tok")
            self.assertGreaterEqual(time.monotonic() - t0, 0.4)
            self.assertEqual((st, body["data"]), (200, {"key": "k1"}))
            self.admin("POST", "/admin/fault", {"path": "kv1/app", "oversize": 300000})
            st, resp, _ = self.api("GET", "kv1/app", token="web-tok")
            self.assertEqual(st, 200)
            self.assertGreaterEqual(int(resp.getheader("Content-Length")), 300000)
            self.admin("POST", "/admin/fault", {"path": "kv1/app", "malformed": True})
            st, _, body = self.api("GET", "kv1/app", token="web-tok")
            self.assertEqual(st, 200)
            self.assertIsInstance(body, bytes, "malformed reply parsed as JSON")
            self.admin("POST", "/admin/fault", {"path": "kv1/app", "drop": True})
            with self.assertRaises((http.client.HTTPException, ConnectionError, OSError)):
                self.api("GET", "kv1/app", token="web-tok")
            st, _, _ = self.api("GET", "kv1/app", token="web-tok")
            self.assertEqual(st, 200)
        finally:
            self.admin("POST", "/admin/clear-faults")


if __name__ == "__main__":
    socket.setdefaulttimeout(20)
    sys.exit(selftest_main())
