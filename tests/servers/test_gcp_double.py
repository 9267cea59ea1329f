#!/usr/bin/env python3
"""Self-test of gcp_double.py (a test double of GCP Secret Manager, Google's OAuth token
endpoint and the GCE metadata server). Signs JWTs with the openssl CLI (the standard
library has no RSA). Exit 77 (skip) when openssl is missing, unless LOCKBOX_MUST_WORK=1."""

import base64
import json
import os
import shutil
import subprocess
import sys
import time
import unittest
from urllib.parse import urlencode

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import gcp_double  # noqa: E402
from doublelib import DoubleTestCase  # noqa: E402

SEED = {"project": "test-project", "token_ttl": 60, "secrets": {
    "db": [{"data": "one"}, {"data": "two"}],
    "off": [{"data": "x", "state": "DISABLED"}]}}


def b64url(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


class GcpDoubleTest(DoubleTestCase):
    @classmethod
    def setUpClass(cls):
        cls.make_tls("gcp-double-test.")
        seed = cls.write_seed(SEED)
        cls.port, cls.mport, cls.aport = cls.start_double("gcp_double.py", [
            "--seed", seed, "--tls-dir", cls.tls, "--credentials-out", cls.tmp + "/sa.json",
            "--port-file", cls.tmp + "/p", "--metadata-port-file", cls.tmp + "/m",
            "--admin-port-file", cls.tmp + "/a", "--max-seconds", "60"],
            [cls.tmp + "/p", cls.tmp + "/m", cls.tmp + "/a"])
        cls.cred = json.load(open(cls.tmp + "/sa.json"))
        with open(cls.tmp + "/key.pem", "w") as fh:
            fh.write(cls.cred["private_key"])

    def admin(self, path, body=None):
        return self.request("POST" if body is not None else "GET", path,
                        json.dumps(body) if body is not None else None, port=self.aport,
                        tls=False)[1]

    def jwt(self, key=None, **over):
        now = int(time.time())
        claims = {"iss": self.cred["client_email"], "aud": self.cred["token_uri"],
                  "scope": gcp_double.SCOPE, "iat": now, "exp": now + 3600}
        claims.update(over)
        si = b64url(json.dumps({"alg": "RS256", "typ": "JWT"}).encode()) + "." + \
            b64url(json.dumps(claims).encode())
        sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key or self.tmp + "/key.pem"],
                             input=si.encode(), capture_output=True, check=True).stdout
        return si + "." + b64url(sig)

    def token(self, jwt):
        body = urlencode({"grant_type": gcp_double.JWT_GRANT, "assertion": jwt})
        return self.request("POST", "/token", body,
                        {"Content-Type": "application/x-www-form-urlencoded"})

    def good_token(self):
        st, j, _ = self.token(self.jwt())
        self.assertEqual(st, 200, j)
        return j["access_token"]

    def access(self, name, ver="latest", tok=None):
        h = {"Authorization": "Bearer " + tok} if tok else {}
        return self.request("GET", f"/v1/projects/test-project/secrets/{name}/versions/{ver}:access",
                        headers=h)

    def test_crc32c_vector(self):
        self.assertEqual(gcp_double.crc32c(b"123456789"), 0xE3069283)

    def test_jwt_checked(self):
        st, j, _ = self.token(self.jwt())
        self.assertEqual(st, 200)
        self.assertEqual(j["token_type"], "Bearer")
        self.assertIsInstance(j["expires_in"], int)
        other = self.tmp + "/other.pem"
        subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-out", other], check=True,
                       capture_output=True)
        st, j, _ = self.token(self.jwt(key=other))
        self.assertEqual((st, j["error"]), (400, "invalid_grant"))
        self.assertIn("Signature", j["error_description"])
        st, j, _ = self.token(self.jwt(aud="https://elsewhere/token"))
        self.assertEqual((st, j["error"]), (400, "invalid_grant"))
        st, j, _ = self.token(self.jwt(exp=int(time.time()) + 7200))
        self.assertEqual((st, j["error"]), (400, "invalid_grant"))

    def test_access(self):
        tok = self.good_token()
        st, j, _ = self.access("db", tok=tok)
        self.assertEqual(st, 200)
        data = base64.b64decode(j["payload"]["data"])
        self.assertEqual(data, b"two")
        self.assertEqual(j["payload"]["dataCrc32c"], str(gcp_double.crc32c(data)))
        self.assertTrue(j["name"].endswith("/secrets/db/versions/2"))
        st, j, _ = self.access("db", "1", tok)
        self.assertEqual(base64.b64decode(j["payload"]["data"]), b"one")
        st, j, _ = self.access("db", "9", tok)
        self.assertEqual((st, j["error"]["status"]), (404, "NOT_FOUND"))
        st, j, _ = self.access("nosuch", tok=tok)
        self.assertEqual((st, j["error"]["status"]), (404, "NOT_FOUND"))
        st, j, _ = self.access("off", tok=tok)
        self.assertEqual((st, j["error"]["status"]), (400, "FAILED_PRECONDITION"))

    def test_bearer_checked(self):
        st, j, _ = self.access("db")
        self.assertEqual((st, j["error"]["status"]), (401, "UNAUTHENTICATED"))
        st, j, _ = self.access("db", tok="ya29.forged")
        self.assertEqual((st, j["error"]["status"]), (401, "UNAUTHENTICATED"))

    def test_metadata(self):
        st, _, _ = self.request("GET", "/computeMetadata/v1/instance/service-accounts/default/token",
                            port=self.mport, tls=False)
        self.assertEqual(st, 403)
        st, j, r = self.request("GET", "/computeMetadata/v1/instance/service-accounts/default/token",
                            headers={"Metadata-Flavor": "Google"}, port=self.mport, tls=False)
        self.assertEqual(st, 200)
        self.assertEqual(r.getheader("Metadata-Flavor"), "Google")
        st, _, _ = self.access("db", tok=j["access_token"])
        self.assertEqual(st, 200)

    def test_faults(self):
        tok = self.good_token()
        self.admin("/admin/fault", {"where": "access", "status": 429, "retry_after": 2, "count": 1})
        st, j, r = self.access("db", tok=tok)
        self.assertEqual((st, j["error"]["status"], r.getheader("Retry-After")),
                         (429, "RESOURCE_EXHAUSTED", "2"))
        self.admin("/admin/fault", {"where": "access", "corrupt_crc": True, "count": 1})
        st, j, _ = self.access("db", tok=tok)
        data = base64.b64decode(j["payload"]["data"])
        self.assertNotEqual(j["payload"]["dataCrc32c"], str(gcp_double.crc32c(data)))
        self.assertEqual(self.access("db", tok=tok)[0], 200)

    def test_zz_expiry(self):
        self.admin("/admin/token-ttl", {"ttl": 1})
        tok = self.good_token()
        self.assertEqual(self.access("db", tok=tok)[0], 200)
        time.sleep(1.3)
        self.assertEqual(self.access("db", tok=tok)[0], 401)
        self.assertGreaterEqual(self.admin("/admin/state")["counts"]["expired_token_used"], 1)


if __name__ == "__main__":
    if not shutil.which("openssl"):
        if os.environ.get("LOCKBOX_MUST_WORK") == "1":
            sys.exit("openssl missing and LOCKBOX_MUST_WORK=1")
        print("SKIP: openssl missing")
        sys.exit(77)
    unittest.main()
