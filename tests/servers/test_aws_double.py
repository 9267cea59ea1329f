#!/usr/bin/env python3
"""Self-test of aws_double.py (a test double of AWS Secrets Manager, SSM Parameter Store,
EC2 IMDSv2 and ECS container credentials).

Starts the double over HTTPS with a throwaway CA from make_ca.sh and checks, with its own
SigV4 signer, that good signatures are accepted and every kind of bad one is refused the
way AWS refuses it, plus the reply shapes lockboxd relies on. Standard library only.
Exit 77 (skip) when openssl is missing, unless LOCKBOX_MUST_WORK=1.
"""

import base64
import hashlib
import hmac
import http.client
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
REGION = "eu-west-1"
AKID, SECRET = "AKIDSELFTEST", "selftest/secret+key"


def sign(method, host, body, target, service, akid, secret, token=None, region=REGION,
         ts=None):
    ts = ts or time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    headers = {"content-type": "application/x-amz-json-1.1", "host": host, "x-amz-date": ts,
               "x-amz-target": target}
    if token:
        headers["x-amz-security-token"] = token
    names = sorted(headers)
    canonical = "\n".join([method, "/", ""] + [f"{n}:{headers[n]}" for n in names] +
                          ["", ";".join(names), hashlib.sha256(body).hexdigest()])
    scope = f"{ts[:8]}/{region}/{service}/aws4_request"
    sts = "\n".join(["AWS4-HMAC-SHA256", ts, scope,
                     hashlib.sha256(canonical.encode()).hexdigest()])
    key = ("AWS4" + secret).encode()
    for part in (ts[:8], region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    sig = hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
    out = {k: v for k, v in headers.items() if k != "host"}
    out["authorization"] = (f"AWS4-HMAC-SHA256 Credential={akid}/{scope}, "
                            f"SignedHeaders={';'.join(names)}, Signature={sig}")
    return out


class AwsDoubleTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="awsdouble.")
        tls = os.path.join(cls.dir, "tls")
        subprocess.run([os.path.join(HERE, "make_ca.sh"), tls], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        seed = {
            "region": REGION,
            "keys": {AKID: SECRET, "AKIDSESSION": {"secret": "s2", "token": "tok2"}},
            "secrets": {"db": [{"string": "old"}, {"string": '{"password":"new"}'}],
                        "bin": {"binary_b64": base64.b64encode(b"\x00\x01\xff").decode()},
                        "denied": {"string": "x"}},
            "deny": ["denied"],
            "parameters": {"/a/b": [{"value": "p1", "labels": ["blue"]}, {"value": "p2"}],
                           "plain": {"value": "s", "type": "String"}},
            "imds": {"role": "role-1"},
            "ecs": {"path": "/creds", "authorization": "ecs-auth"},
            "cred_ttl": 600,
        }
        with open(os.path.join(cls.dir, "seed.json"), "w") as fh:
            json.dump(seed, fh)
        ports = {k: os.path.join(cls.dir, k) for k in ("port", "meta", "admin")}
        cls.proc = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "aws_double.py"), "--seed",
             os.path.join(cls.dir, "seed.json"), "--tls-dir", tls, "--port-file", ports["port"],
             "--meta-port-file", ports["meta"], "--admin-port-file", ports["admin"],
             "--max-seconds", "60"])
        deadline = time.time() + 15
        while not os.path.exists(ports["port"]):
            if time.time() > deadline or cls.proc.poll() is not None:
                raise RuntimeError("aws_double did not start")
            time.sleep(0.05)
        def port_of(name):
            with open(ports[name], encoding="ascii") as fh:
                return int(fh.read())
        cls.port, cls.meta, cls.admin = port_of("port"), port_of("meta"), port_of("admin")
        cls.ctx = ssl.create_default_context(cafile=os.path.join(tls, "ca.crt"))

    @classmethod
    def tearDownClass(cls):
        cls.proc.send_signal(signal.SIGTERM)
        cls.proc.wait(timeout=10)
        shutil.rmtree(cls.dir, ignore_errors=True)

    def api(self, target, req, akid=AKID, secret=SECRET, token=None, region=REGION, ts=None,
            tamper=False, headers=None):
        body = json.dumps(req).encode()
        service = "ssm" if target.startswith("AmazonSSM") else "secretsmanager"
        host = f"127.0.0.1:{self.port}"
        h = headers if headers is not None else sign("POST", host, body, target, service, akid,
                                                     secret, token, region, ts)
        if tamper:
            body = body.replace(b"}", b' }')
        c = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ctx, timeout=10)
        c.request("POST", "/", body=body, headers=h)
        r = c.getresponse()
        out = (r.status, json.loads(r.read() or b"{}"))
        c.close()
        return out

    def plain(self, method, port, path, headers=None, body=None):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        out = (r.status, r.read().decode())
        c.close()
        return out

    def sm(self, req, **kw):
        return self.api("secretsmanager.GetSecretValue", req, **kw)

    def test_secret_string_binary_versions(self):
        st, j = self.sm({"SecretId": "db"})
        self.assertEqual(st, 200, j)
        self.assertEqual(j["SecretString"], '{"password":"new"}')
        self.assertEqual(j["VersionStages"], ["AWSCURRENT"])
        self.assertTrue({"ARN", "Name", "VersionId", "CreatedDate"} <= set(j))
        st, prev = self.sm({"SecretId": "db", "VersionStage": "AWSPREVIOUS"})
        self.assertEqual((st, prev["SecretString"]), (200, "old"))
        st, byid = self.sm({"SecretId": "db", "VersionId": prev["VersionId"]})
        self.assertEqual((st, byid["SecretString"]), (200, "old"))
        st, b = self.sm({"SecretId": "bin"})
        self.assertEqual(base64.b64decode(b["SecretBinary"]), b"\x00\x01\xff")
        self.assertNotIn("SecretString", b)

    def test_secret_errors(self):
        self.assertEqual(self.sm({"SecretId": "nope"}),
                         (400, {"__type": "ResourceNotFoundException",
                                "message": "Secrets Manager can't find the specified secret."}))
        st, j = self.sm({"SecretId": "db", "VersionStage": "AWSPENDING"})
        self.assertEqual((st, j["__type"]), (400, "ResourceNotFoundException"))
        st, j = self.sm({"SecretId": "denied"})
        self.assertEqual((st, j["__type"]), (400, "AccessDeniedException"))

    def test_signature_refusals(self):
        req = {"SecretId": "db"}
        st, j = self.sm(req, secret="wrong")
        self.assertEqual((st, j["__type"]), (400, "InvalidSignatureException"))
        st, j = self.sm(req, tamper=True)
        self.assertEqual((st, j["__type"]), (400, "InvalidSignatureException"))
        st, j = self.sm(req, akid="AKIDUNKNOWN")
        self.assertEqual((st, j["__type"]), (400, "UnrecognizedClientException"))
        st, j = self.sm(req, region="us-east-1")
        self.assertEqual((st, j["__type"]), (400, "InvalidSignatureException"))
        old = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() - 3600))
        st, j = self.sm(req, ts=old)
        self.assertEqual((st, j["__type"]), (400, "InvalidSignatureException"))
        self.assertIn("Signature expired", j["message"])
        st, j = self.sm(req, headers={"X-Amz-Target": "secretsmanager.GetSecretValue",
                                      "Content-Type": "application/x-amz-json-1.1"})
        self.assertEqual((st, j["__type"]), (400, "MissingAuthenticationTokenException"))
        # Session keys: the token must come with the request.
        st, j = self.sm(req, akid="AKIDSESSION", secret="s2")
        self.assertEqual((st, j["__type"]), (400, "UnrecognizedClientException"))
        st, j = self.sm(req, akid="AKIDSESSION", secret="s2", token="tok2")
        self.assertEqual(st, 200, j)

    def test_parameters(self):
        ssm = "AmazonSSM.GetParameter"
        st, j = self.api(ssm, {"Name": "/a/b", "WithDecryption": True})
        self.assertEqual((st, j["Parameter"]["Value"], j["Parameter"]["Version"]), (200, "p2", 2))
        st, j = self.api(ssm, {"Name": "/a/b:1", "WithDecryption": True})
        self.assertEqual((j["Parameter"]["Value"], j["Parameter"]["Selector"]), ("p1", ":1"))
        st, j = self.api(ssm, {"Name": "/a/b:blue", "WithDecryption": True})
        self.assertEqual(j["Parameter"]["Value"], "p1")
        st, j = self.api(ssm, {"Name": "/a/b"})
        self.assertNotEqual(j["Parameter"]["Value"], "p2")  # SecureString not decrypted
        self.assertEqual(self.api(ssm, {"Name": "/x"}), (400, {"__type": "ParameterNotFound"}))
        st, j = self.api(ssm, {"Name": "/a/b:9", "WithDecryption": True})
        self.assertEqual((st, j["__type"]), (400, "ParameterVersionNotFound"))
        st, j = self.api(ssm, {"Name": "plain"}, secret="bad")
        self.assertEqual(j["__type"], "InvalidSignatureException")

    def test_imds_and_ecs(self):
        prefix = "/latest/meta-data/iam/security-credentials/"
        self.assertEqual(self.plain("GET", self.meta, prefix)[0], 401)  # IMDSv1 refused
        self.assertEqual(self.plain("PUT", self.meta, "/latest/api/token")[0], 400)
        st, tok = self.plain("PUT", self.meta, "/latest/api/token",
                             {"X-aws-ec2-metadata-token-ttl-seconds": "60"})
        self.assertEqual(st, 200)
        hdr = {"X-aws-ec2-metadata-token": tok}
        self.assertEqual(self.plain("GET", self.meta, prefix, hdr), (200, "role-1"))
        st, body = self.plain("GET", self.meta, prefix + "role-1", hdr)
        creds = json.loads(body)
        self.assertEqual(creds["Code"], "Success")
        st, j = self.sm({"SecretId": "db"}, akid=creds["AccessKeyId"],
                        secret=creds["SecretAccessKey"], token=creds["Token"])
        self.assertEqual(st, 200, j)
        st, j = self.sm({"SecretId": "db"}, akid=creds["AccessKeyId"],
                        secret=creds["SecretAccessKey"], token="other")
        self.assertEqual(j["__type"], "UnrecognizedClientException")
        self.assertEqual(self.plain("GET", self.meta, "/creds")[0], 401)
        st, body = self.plain("GET", self.meta, "/creds", {"Authorization": "ecs-auth"})
        ecs = json.loads(body)
        self.assertTrue({"AccessKeyId", "SecretAccessKey", "Token", "Expiration"} <= set(ecs))
        self.plain("POST", self.admin, "/admin/expire-credentials", body=b"{}")
        st, j = self.sm({"SecretId": "db"}, akid=ecs["AccessKeyId"],
                        secret=ecs["SecretAccessKey"], token=ecs["Token"])
        self.assertEqual((st, j["__type"]), (400, "ExpiredTokenException"))

    def test_faults_and_counters(self):
        self.plain("POST", self.admin, "/admin/fault",
                   body=json.dumps({"target": "secretsmanager.GetSecretValue", "name": "bin",
                                    "count": 1, "type": "ThrottlingException"}).encode())
        st, j = self.sm({"SecretId": "bin"})
        self.assertEqual((st, j), (400, {"__type": "ThrottlingException", "message": "Rate exceeded"}))
        self.assertEqual(self.sm({"SecretId": "bin"})[0], 200)
        st, body = self.plain("GET", self.admin, "/admin/requests")
        log = json.loads(body)["log"]
        self.assertFalse(any("SecretString" in json.dumps(e) or "p2" == e.get("value") for e in log))


if __name__ == "__main__":
    if not shutil.which("openssl"):
        if os.environ.get("LOCKBOX_MUST_WORK") == "1":
            print("FAIL: openssl missing and LOCKBOX_MUST_WORK=1")
            sys.exit(1)
        print("SKIP: openssl missing")
        sys.exit(77)
    unittest.main()
