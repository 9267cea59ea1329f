#!/usr/bin/env python3
"""Self-test of vault_auth_double.py (the jwt, kubernetes and aws logins of vault_double.py).

Starts vault_double.py over HTTPS with a throwaway CA and an RSA key made with the openssl CLI,
and checks that each login accepts what Vault accepts and refuses the rest with Vault's error
envelope: RS256 signature, bound audience/claims; service account name/namespace; the SigV4
signature of the forwarded sts:GetCallerIdentity, the server ID header, the bound ARN.
Standard library only. Exit 77 (skip) without openssl, unless LOCKBOX_MUST_WORK=1.
"""

import base64
import datetime
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import aws_double  # noqa: E402
from doublelib import DoubleTestCase, selftest_main  # noqa: E402
import vault_auth_double  # noqa: E402

AKID, SECRET, ARN = "AKIDSELFTEST", "selftest-secret", "arn:aws:iam::123456789012:role/web"


class VaultAuthDoubleTest(DoubleTestCase):
    @classmethod
    def setUpClass(cls):
        cls.make_tls("vault-auth-double-test.")
        cls.key = os.path.join(cls.tmp, "jwt.key")
        cls.other = os.path.join(cls.tmp, "other.key")
        pub = os.path.join(cls.tmp, "jwt.pub")
        for k in (cls.key, cls.other):
            subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt",
                            "rsa_keygen_bits:2048", "-out", k], check=True, capture_output=True)
        subprocess.run(["openssl", "pkey", "-in", cls.key, "-pubout", "-out", pub], check=True,
                       capture_output=True)
        role = {"token_policies": ["web"], "token_ttl": 60, "token_max_ttl": 120}
        seed = {
            "policies": {"web": ["secret/*"]},
            "jwt": {"mounts": {"jwt": {"public_key_file": pub, "roles": {"ci": dict(
                role, bound_audiences=["lockbox"], bound_claims={"repo": ["a/b", "a/c"]})}}}},
            "kubernetes": {"mounts": {"kubernetes": {"public_key_file": pub, "roles": {"web": dict(
                role, bound_service_account_names=["web"],
                bound_service_account_namespaces=["prod"])}}}},
            "aws_auth": {"mounts": {"aws": {"iam_server_id_header_value": "vault.test",
                                            "keys": {AKID: {"secret": SECRET, "arn": ARN}},
                                            "roles": {"web": dict(
                                                role, bound_iam_principal_arn=[ARN])}}}},
        }
        path = cls.write_seed(seed)
        port_file = os.path.join(cls.tmp, "port")
        (cls.port,) = cls.start_double(
            "vault_double.py", ["--seed", path, "--tls-dir", cls.tls, "--port-file", port_file,
                                "--admin-port-file", os.path.join(cls.tmp, "aport"),
                                "--max-seconds", "120"], [port_file], seconds=15)

    def login(self, mount, body):
        st, data, _ = self.request("POST", f"/v1/auth/{mount}/login", json.dumps(body).encode(),
                                   {"X-Vault-Request": "true"})
        return st, data

    def jwt(self, claims, key=None):
        base = {"exp": int(time.time()) + 600}
        return vault_auth_double.sign_jwt(base | claims, key or self.key)

    def assertToken(self, st, body):
        self.assertEqual(st, 200, body)
        self.assertTrue(body["auth"]["client_token"].startswith("hvs."), body)
        self.assertEqual(body["auth"]["lease_duration"], 60)
        self.assertIn("web", body["auth"]["policies"])

    def test_jwt(self):
        good = {"sub": "ci", "aud": "lockbox", "repo": "a/c"}
        self.assertToken(*self.login("jwt", {"role": "ci", "jwt": self.jwt(good)}))
        for claims, key, err in (
                (good | {"repo": "x/y"}, None,
                 'error validating claims: claim "repo" does not match any associated bound '
                 'claim values'),
                (good | {"aud": "other"}, None, "error validating token: invalid audience (aud) "
                 "claim: audience claim does not match any expected audience"),
                (good | {"exp": int(time.time()) - 3600}, None,
                 "error validating token: token is expired (exp)"),
                (good, self.other, "error validating token: failed to verify id token "
                 "signature")):
            st, body = self.login("jwt", {"role": "ci", "jwt": self.jwt(claims, key)})
            self.assertEqual((st, body), (400, {"errors": [err]}))
        st, body = self.login("jwt", {"role": "nope", "jwt": self.jwt(good)})
        self.assertEqual((st, body), (400, {"errors": ['role "nope" could not be found']}))

    def test_kubernetes(self):
        sa = {"sub": "system:serviceaccount:prod:web",
              "kubernetes.io": {"namespace": "prod", "serviceaccount": {"name": "web"}}}
        self.assertToken(*self.login("kubernetes", {"role": "web", "jwt": self.jwt(sa)}))
        legacy = {"kubernetes.io/serviceaccount/namespace": "dev",
                  "kubernetes.io/serviceaccount/service-account.name": "web"}
        st, body = self.login("kubernetes", {"role": "web", "jwt": self.jwt(legacy)})
        self.assertEqual((st, body), (403, {"errors": ["namespace not authorized"]}))
        st, body = self.login("kubernetes", {"role": "web", "jwt": self.jwt(sa, self.other)})
        self.assertEqual((st, body), (403, {"errors": ["permission denied"]}))
        st, body = self.login("kubernetes", {"role": "db", "jwt": self.jwt(sa)})
        self.assertEqual((st, body), (400, {"errors": ['invalid role name "db"']}))

    def aws_body(self, secret=SECRET, server_id="vault.test", sign_sid=True, role="web"):
        """An sts:GetCallerIdentity signed as the AWS SDKs (and lockbox) sign it."""
        ts = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        body = b"Action=GetCallerIdentity&Version=2011-06-15"
        hdrs = {"Host": "sts.amazonaws.com",
                "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
                "X-Amz-Date": ts}
        if server_id:
            hdrs["X-Vault-AWS-IAM-Server-ID"] = server_id
        signed = sorted(k.lower() for k in hdrs if sign_sid or k != "X-Vault-AWS-IAM-Server-ID")
        scope = f"{ts[:8]}/us-east-1/sts/aws4_request"
        sig = aws_double.expected_signature(
            secret, "POST", "/", "", vault_auth_double._Headers(hdrs, "sts.amazonaws.com"),
            signed, body, ts, scope)
        hdrs["Authorization"] = (f"AWS4-HMAC-SHA256 Credential={AKID}/{scope}, "
                                 f"SignedHeaders={';'.join(signed)}, Signature={sig}")
        b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
        return {"role": role, "iam_http_request_method": "POST",
                "iam_request_url": b64(b"https://sts.amazonaws.com/"),
                "iam_request_body": b64(body),
                "iam_request_headers": b64(json.dumps({k: [v] for k, v in hdrs.items()}).encode())}

    def test_aws(self):
        st, body = self.login("aws", self.aws_body())
        self.assertToken(st, body)
        self.assertEqual(body["auth"]["metadata"]["canonical_arn"], ARN)
        st, body = self.login("aws", self.aws_body(secret="wrong"))
        self.assertEqual(st, 400)
        self.assertTrue(body["errors"][0].startswith(
            "error making upstream request: received error code 403 from STS: <ErrorResponse"))
        self.assertIn("<Code>SignatureDoesNotMatch</Code>", body["errors"][0])
        for kw, err in (({"server_id": None}, 'missing header "X-Vault-AWS-IAM-Server-ID"'),
                        ({"server_id": "x"}, 'expected "vault.test" but got "x"'),
                        ({"sign_sid": False}, "vault header wasn't signed"),
                        ({"role": "db"}, "entry for role db not found")):
            st, body = self.login("aws", self.aws_body(**kw))
            self.assertEqual((st, body), (400, {"errors": [err]}), kw)


if __name__ == "__main__":
    sys.exit(selftest_main())
