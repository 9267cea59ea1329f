#!/usr/bin/env python3
"""Self-test of azure_double.py (a test double of Azure Key Vault, Entra ID client
credentials and IMDS). Signs client assertions with the openssl CLI. Exit 77 (skip) when
openssl is missing, unless LOCKBOX_MUST_WORK=1."""

import base64
import hashlib
import json
import os
import shutil
import ssl
import subprocess
import sys
import time
import unittest
import uuid
from urllib.parse import urlencode

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import azure_double  # noqa: E402
from doublelib import DoubleTestCase  # noqa: E402

TENANT = "00000000-0000-0000-0000-00000000abcd"
CLIENT = "11111111-2222-3333-4444-555555555555"
SEED = {"client_secret": "s3cret", "token_ttl": 60, "secrets": {
    "db": [{"value": "one", "version": "aaaa"}, {"value": "two"}],
    "off": [{"value": "x", "enabled": False}]}}


def b64url(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


class AzureDoubleTest(DoubleTestCase):
    @classmethod
    def setUpClass(cls):
        cls.make_tls("azure-double-test.")
        seed = cls.write_seed(SEED)
        cls.port, cls.iport, cls.aport = cls.start_double("azure_double.py", [
            "--seed", seed, "--tls-dir", cls.tls, "--cert-out", cls.tmp + "/client.pem",
            "--secret-out", cls.tmp + "/secret",
            "--port-file", cls.tmp + "/p", "--imds-port-file", cls.tmp + "/i",
            "--admin-port-file", cls.tmp + "/a", "--max-seconds", "60"],
            [cls.tmp + "/p", cls.tmp + "/i", cls.tmp + "/a"])
        cls.token_url = f"https://127.0.0.1:{cls.port}/{TENANT}/oauth2/v2.0/token"

    def admin(self, path, body=None):
        return self.request("POST" if body is not None else "GET", path,
                        json.dumps(body) if body is not None else None, port=self.aport,
                        tls=False)[1]

    def token(self, **form):
        base = {"grant_type": "client_credentials", "client_id": CLIENT,
                "scope": azure_double.SCOPE}
        base.update(form)
        return self.request("POST", f"/{TENANT}/oauth2/v2.0/token", urlencode(base),
                        {"Content-Type": "application/x-www-form-urlencoded"})

    def assertion(self, aud=None):
        pem = open(self.tmp + "/client.pem").read()
        cert = pem[pem.index("-----BEGIN CERTIFICATE-----"):]
        x5t = b64url(hashlib.sha1(ssl.PEM_cert_to_DER_cert(cert)).digest())
        now = int(time.time())
        si = b64url(json.dumps({"alg": "RS256", "typ": "JWT", "x5t": x5t}).encode()) + "." + \
            b64url(json.dumps({"aud": aud or self.token_url, "iss": CLIENT, "sub": CLIENT,
                               "jti": str(uuid.uuid4()), "nbf": now, "exp": now + 600}).encode())
        sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", self.tmp + "/client.pem"],
                             input=si.encode(), capture_output=True, check=True).stdout
        return si + "." + b64url(sig)

    def get(self, path, tok=None):
        h = {"Authorization": "Bearer " + tok} if tok else {}
        return self.request("GET", path, headers=h)

    def good_token(self):
        st, j, _ = self.token(client_secret="s3cret")
        self.assertEqual(st, 200, j)
        return j["access_token"]

    def test_client_secret(self):
        st, j, _ = self.token(client_secret="s3cret")
        self.assertEqual((st, j["token_type"]), (200, "Bearer"))
        self.assertIsInstance(j["expires_in"], int)
        st, j, _ = self.token(client_secret="wrong")
        self.assertEqual((st, j["error"]), (401, "invalid_client"))
        self.assertTrue(j["error_description"].startswith("AADSTS7000215"))
        st, j, _ = self.token(client_secret="s3cret", scope="https://other/.default")
        self.assertEqual((st, j["error"]), (400, "invalid_scope"))

    def test_client_assertion(self):
        at = azure_double.ASSERTION_TYPE
        st, j, _ = self.token(client_assertion_type=at, client_assertion=self.assertion())
        self.assertEqual(st, 200, j)
        st, j, _ = self.token(client_assertion_type=at,
                              client_assertion=self.assertion(aud="https://elsewhere"))
        self.assertEqual((st, j["error"]), (401, "invalid_client"))
        forged = self.assertion().rsplit(".", 1)[0] + "." + b64url(b"\0" * 256)
        st, j, _ = self.token(client_assertion_type=at, client_assertion=forged)
        self.assertEqual((st, j["error"]), (401, "invalid_client"))

    def test_challenge_and_secrets(self):
        st, j, r = self.get("/secrets/db?api-version=7.4")
        self.assertEqual((st, j["error"]["code"]), (401, "Unauthorized"))
        chal = r.getheader("WWW-Authenticate")
        self.assertIn('resource="https://vault.azure.net"', chal)
        self.assertIn(f'/{TENANT}"', chal)
        tok = self.good_token()
        st, j, _ = self.get("/secrets/db?api-version=7.4", tok)
        self.assertEqual((st, j["value"]), (200, "two"))
        self.assertIn("/secrets/db/", j["id"])
        st, j, _ = self.get("/secrets/db/aaaa?api-version=7.4", tok)
        self.assertEqual((j["value"], j["id"].rsplit("/", 1)[1]), ("one", "aaaa"))
        st, j, _ = self.get("/secrets/db/bbbb?api-version=7.4", tok)
        self.assertEqual((st, j["error"]["code"]), (404, "SecretNotFound"))
        st, j, _ = self.get("/secrets/off?api-version=7.4", tok)
        self.assertEqual((st, j["error"]["innererror"]["code"]), (403, "SecretDisabled"))
        st, j, _ = self.get("/secrets/db?api-version=7.4", "forged")
        self.assertEqual(st, 401)

    def test_imds(self):
        path = "/metadata/identity/oauth2/token?" + urlencode(
            {"api-version": "2018-02-01", "resource": "https://vault.azure.net"})
        st, _, _ = self.request("GET", path, port=self.iport, tls=False)
        self.assertEqual(st, 400)
        st, j, _ = self.request("GET", path, headers={"Metadata": "true"}, port=self.iport, tls=False)
        self.assertEqual(st, 200)
        self.assertIsInstance(j["expires_in"], str)
        self.assertEqual(self.get("/secrets/db?api-version=7.4", j["access_token"])[0], 200)

    def test_throttle(self):
        tok = self.good_token()
        self.admin("/admin/fault", {"where": "secrets", "status": 429, "retry_after": 3, "count": 1})
        st, j, r = self.get("/secrets/db?api-version=7.4", tok)
        self.assertEqual((st, j["error"]["code"], r.getheader("Retry-After")),
                         (429, "Throttled", "3"))
        self.assertEqual(self.get("/secrets/db?api-version=7.4", tok)[0], 200)

    def test_zz_expiry(self):
        self.admin("/admin/token-ttl", {"ttl": 1})
        tok = self.good_token()
        self.assertEqual(self.get("/secrets/db?api-version=7.4", tok)[0], 200)
        time.sleep(1.3)
        self.assertEqual(self.get("/secrets/db?api-version=7.4", tok)[0], 401)


if __name__ == "__main__":
    if not shutil.which("openssl"):
        if os.environ.get("LOCKBOX_MUST_WORK") == "1":
            sys.exit("openssl missing and LOCKBOX_MUST_WORK=1")
        print("SKIP: openssl missing")
        sys.exit(77)
    unittest.main()
