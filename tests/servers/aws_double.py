#!/usr/bin/env python3
"""aws_double.py - a TEST DOUBLE of AWS Secrets Manager and SSM Parameter Store, for lockbox
tests only.

This is not AWS and holds no real secrets. Over HTTPS (test CA) it answers the JSON 1.1
protocol (POST /, X-Amz-Target) for secretsmanager.GetSecretValue and
AmazonSSM.GetParameter with the request and reply shapes of the public API reference, and
it VERIFIES the SigV4 signature of every request with its test credentials (recomputed with
hmac/hashlib), answering the errors AWS answers when it is wrong. Over plain HTTP (as the
real ones are) it serves the EC2 instance metadata service (IMDSv2 only) and an ECS
container credentials endpoint, both issuing expiring temporary credentials that the API
then accepts. A plain-HTTP admin endpoint injects faults, changes state and reports what
the client did (counters and a request log without secret values).

Python 3.11 standard library only. Binds 127.0.0.1 only. Exits by itself after
--max-seconds, on SIGTERM/SIGINT, or on POST /admin/shutdown. See README.md.
"""

import argparse
import base64
import datetime
import hashlib
import hmac
import json
import re
import secrets
import socket
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler
from urllib.parse import quote, urlsplit

from doublelib import (AdminJsonHandler, PlainThreadingServer, TLSThreadingServer, run,
                       tls_dir_context)

MAX_REQUEST_BYTES = 1024 * 1024
ACCOUNT = "123456789012"
# SigV4: AWS refuses a request whose X-Amz-Date is more than 5 minutes off ("Signature
# expired"); the documented window for the JSON services is 5 minutes either way.
CLOCK_SKEW_S = 300
JSON_CT = "application/x-amz-json-1.1"
SM_TARGET = "secretsmanager.GetSecretValue"
SSM_TARGET = "AmazonSSM.GetParameter"
MSG_BAD_SIGNATURE = ("The request signature we calculated does not match the signature you "
                     "provided. Check your AWS Secret Access Key and signing method. Consult "
                     "the service documentation for details.")
MSG_UNRECOGNIZED = "The security token included in the request is invalid."
MSG_EXPIRED = "The security token included in the request is expired"


def now() -> float:
    return time.time()


def iso8601(ts: float) -> str:
    return datetime.datetime.fromtimestamp(int(ts), tz=datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


class Reply(Exception):
    def __init__(self, status: int, body=None, headers: dict | None = None):
        super().__init__(status)
        self.status, self.body, self.headers = status, body, headers or {}


def aws_error(status: int, type_: str, message: str | None = None) -> Reply:
    body = {"__type": type_}
    if message is not None:
        body["message"] = message
    return Reply(status, body)


# ----- SigV4 (the public description: canonical request, string to sign, key chain) ------
def _uri_encode(s: str, slash: bool = True) -> str:
    return quote(s, safe="-_.~" + ("/" if not slash else ""))


def canonical_path(path: str) -> str:
    # Every service but S3 normalises the path and encodes each segment twice.
    segs = []
    for seg in path.split("/"):
        if seg in ("", "."):
            continue
        if seg == "..":
            if segs:
                segs.pop()
            continue
        segs.append(seg)
    norm = "/" + "/".join(segs) + ("/" if path.endswith("/") and segs else "")
    return "/".join(_uri_encode(_uri_encode(p)) for p in norm.split("/"))


def canonical_query(query: str) -> str:
    from urllib.parse import unquote
    pairs = []
    for part in query.split("&") if query else []:
        k, _, v = part.partition("=")
        pairs.append((_uri_encode(unquote(k)), _uri_encode(unquote(v))))
    return "&".join(f"{k}={v}" for k, v in sorted(pairs))


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = ("AWS4" + secret).encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def expected_signature(secret, method, path, query, headers, signed, body, ts, scope):
    lines = [method, canonical_path(path), canonical_query(query)]
    for name in signed:
        values = headers.get_all(name) or []
        lines.append(name + ":" + ",".join(re.sub(r"\s+", " ", v.strip()) for v in values))
    lines += ["", ";".join(signed), hashlib.sha256(body).hexdigest()]
    canonical = "\n".join(lines)
    sts = "\n".join(["AWS4-HMAC-SHA256", ts, scope,
                     hashlib.sha256(canonical.encode()).hexdigest()])
    date, region, service, _ = scope.split("/")
    return hmac.new(signing_key(secret, date, region, service), sts.encode(),
                    hashlib.sha256).hexdigest()


AUTH_RE = re.compile(r"AWS4-HMAC-SHA256\s+Credential=([^,\s]+),\s*SignedHeaders=([^,\s]+),"
                     r"\s*Signature=([0-9a-f]{64})$")


class State:
    def __init__(self, seed: dict):
        self.lock = threading.Lock()
        self.region = seed.get("region", "eu-west-1")
        self.keys = dict(seed.get("keys", {}))  # static: AKID -> secret
        self.temp = {}  # AKID -> {secret, token, expire, source}
        self.cred_ttl = int(seed.get("cred_ttl", 900))
        self.secrets = {}
        for name, versions in seed.get("secrets", {}).items():
            for v in versions if isinstance(versions, list) else [versions]:
                self.add_secret_version(name, v)
        self.params = {}
        for name, versions in seed.get("parameters", {}).items():
            for v in versions if isinstance(versions, list) else [versions]:
                self.add_param_version(name, v)
        self.deny = set(seed.get("deny", []))
        imds = seed.get("imds") or {}
        self.imds_role = imds.get("role")
        self.imds_tokens = {}  # token -> expire
        ecs = seed.get("ecs") or {}
        self.ecs_path = ecs.get("path")
        self.ecs_auth = ecs.get("authorization")
        self.faults = []
        self.log = []
        self.counts = {}
        self.issued = {"imds": 0, "ecs": 0}

    # secrets: name -> [{"id","string"|"binary","stages","created"}]
    def add_secret_version(self, name: str, v: dict) -> dict:
        versions = self.secrets.setdefault(name, [])
        rec = {"id": v.get("id") or str(uuid.uuid4()), "created": now(),
               "stages": list(v.get("stages", []))}
        if "binary_b64" in v:
            rec["binary"] = base64.b64decode(v["binary_b64"])
        else:
            rec["string"] = v["string"]
        for old in versions:
            old["stages"] = [s for s in old["stages"] if s != "AWSPREVIOUS"]
            if "AWSCURRENT" in old["stages"]:
                old["stages"] = [s for s in old["stages"] if s != "AWSCURRENT"] + ["AWSPREVIOUS"]
        rec["stages"] = [s for s in rec["stages"] if s not in ("AWSCURRENT", "AWSPREVIOUS")]
        rec["stages"].append("AWSCURRENT")
        for s in rec["stages"]:
            if s not in ("AWSCURRENT", "AWSPREVIOUS"):
                for old in versions:
                    old["stages"] = [x for x in old["stages"] if x != s]
        versions.append(rec)
        return {"Name": name, "VersionId": rec["id"]}

    def add_param_version(self, name: str, v: dict) -> dict:
        versions = self.params.setdefault(name, [])
        labels = list(v.get("labels", []))
        for old in versions:
            old["labels"] = [x for x in old["labels"] if x not in labels]
        versions.append({"value": v["value"], "type": v.get("type", "SecureString"),
                         "labels": labels, "created": now(), "version": len(versions) + 1})
        return {"Name": name, "Version": len(versions)}

    def issue_temp(self, source: str) -> dict:
        akid = "ASIA" + secrets.token_hex(8).upper()
        rec = {"secret": secrets.token_urlsafe(30), "token": "IQo" + secrets.token_urlsafe(60),
               "expire": now() + self.cred_ttl, "source": source}
        self.temp[akid] = rec
        self.issued[source] += 1
        return {"AccessKeyId": akid, "SecretAccessKey": rec["secret"], "Token": rec["token"],
                "Expiration": iso8601(rec["expire"])}

    def take_fault(self, op: str, name: str) -> dict | None:
        for f in self.faults:
            if f["target"] in ("*", op) and f.get("name") in (None, name):
                f["count"] -= 1
                if f["count"] <= 0:
                    self.faults.remove(f)
                return f
        return None


class ApiHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "aws-test-double"
    sys_version = ""
    timeout = 15

    def log_message(self, fmt, *args):
        pass

    def _send(self, status: int, body=None, headers: dict | None = None, raw: bytes | None = None):
        if raw is None:
            raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", JSON_CT)
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        self.send_header("Content-Length", str(len(raw)))
        for k, v in (headers or {}).items():
            self.send_header(k, str(v))
        self.end_headers()
        self.wfile.write(raw)
        self.wfile.flush()

    def do_GET(self):
        self._send(404, {"__type": "UnknownOperationException"})

    def do_POST(self):
        st: State = self.server.state
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_REQUEST_BYTES:
            self.close_connection = True
            self._send(413, {"__type": "SerializationException"})
            return
        body = self.rfile.read(length) if length else b""
        target = self.headers.get("X-Amz-Target", "")
        entry = {"t": now(), "target": target, "name": None, "akid": None,
                 "has_token": bool(self.headers.get("X-Amz-Security-Token")),
                 "status": None, "type": None}
        try:
            try:
                req = json.loads(body) if body else {}
            except ValueError:
                req = None
            if isinstance(req, dict):
                entry["name"] = req.get("SecretId") or req.get("Name")
            with st.lock:
                st.log.append(entry)
                key = f"{target} {entry['name']}"
                st.counts[key] = st.counts.get(key, 0) + 1
                entry["akid"] = self._verify(st, target, body)
                fault = st.take_fault(target, entry["name"])
            if fault is not None:
                self._apply_fault(fault, entry)
                return
            if req is None or not isinstance(req, dict):
                raise aws_error(400, "SerializationException", "Start of structure or map found where not expected.")
            if self.headers.get("Content-Type", "").split(";")[0].strip() != JSON_CT:
                raise aws_error(400, "UnknownOperationException")
            with st.lock:
                if target == SM_TARGET:
                    status, payload = 200, self._get_secret_value(st, req)
                elif target == SSM_TARGET:
                    status, payload = 200, self._get_parameter(st, req)
                else:
                    raise aws_error(400, "UnknownOperationException")
        except Reply as r:
            status, payload = r.status, r.body
        entry["status"] = status
        if status != 200:
            entry["type"] = payload.get("__type")
        self._send(status, payload)

    def _apply_fault(self, fault: dict, entry: dict) -> None:
        if fault.get("delay"):
            time.sleep(float(fault["delay"]))
        if fault.get("drop"):
            entry["status"] = "dropped"
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        if fault.get("malformed"):
            entry["status"] = 200
            self._send(200, raw=b'{"ARN":"arn:aws:secretsmanager:x","SecretStr')
            return
        status = int(fault.get("status", 400))
        type_ = fault.get("type") or ("ThrottlingException" if status == 400 else "InternalServiceError")
        message = fault.get("message") or {"ThrottlingException": "Rate exceeded"}.get(
            type_, "An error occurred (internal).")
        entry["status"], entry["type"] = status, type_
        headers = {"Retry-After": str(int(fault["retry_after"]))} if "retry_after" in fault else {}
        self._send(status, {"__type": type_, "message": message}, headers)

    # ----- SigV4 verification -----------------------------------------------------------
    def _verify(self, st: State, target: str, body: bytes) -> str:
        auth = self.headers.get("Authorization")
        if not auth:
            raise aws_error(400, "MissingAuthenticationTokenException", "Missing Authentication Token")
        m = AUTH_RE.match(auth.strip())
        if not m:
            raise aws_error(400, "IncompleteSignatureException",
                            f"Authorization header requires 'Credential', 'Signature' and "
                            f"'SignedHeaders' parameters. Authorization={auth.split()[0]}")
        cred, signed_s, sig = m.groups()
        parts = cred.split("/")
        if len(parts) != 5 or parts[4] != "aws4_request":
            raise aws_error(400, "IncompleteSignatureException", "Credential should have 5 parts")
        akid, date, region, service = parts[:4]
        signed = signed_s.split(";")
        ts = self.headers.get("X-Amz-Date", "")
        if "host" not in signed or "x-amz-date" not in signed or signed != sorted(signed):
            raise aws_error(400, "IncompleteSignatureException",
                            "SignedHeaders must include host and x-amz-date, sorted")
        try:
            t = datetime.datetime.strptime(ts, "%Y%m%dT%H%M%SZ").replace(
                tzinfo=datetime.timezone.utc).timestamp()
        except ValueError:
            raise aws_error(400, "IncompleteSignatureException", "Date must be in ISO-8601 'basic format'") from None
        if abs(t - now()) > CLOCK_SKEW_S:
            raise aws_error(400, "InvalidSignatureException",
                            f"Signature expired: {ts} is now earlier than {time.strftime('%Y%m%dT%H%M%SZ', time.gmtime(now() - CLOCK_SKEW_S))}")
        want_service = {SM_TARGET: "secretsmanager", SSM_TARGET: "ssm"}.get(target, service)
        if region != st.region:
            raise aws_error(400, "InvalidSignatureException",
                            f"Credential should be scoped to a valid region. ")
        if service != want_service:
            raise aws_error(400, "InvalidSignatureException",
                            f"Credential should be scoped to correct service: '{want_service}'. ")
        if date != ts[:8]:
            raise aws_error(400, "InvalidSignatureException",
                            f"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{date}' != '{ts[:8]}', from '{ts}'.")
        token = self.headers.get("X-Amz-Security-Token")
        if akid in st.keys:
            # A seeded key is {AKID: SECRET}, or {AKID: {"secret":..., "token":...}} for
            # session credentials that do not expire.
            key = st.keys[akid]
            secret = key["secret"] if isinstance(key, dict) else key
            if token != (key.get("token") if isinstance(key, dict) else None):
                raise aws_error(400, "UnrecognizedClientException", MSG_UNRECOGNIZED)
        elif akid in st.temp:
            rec = st.temp[akid]
            if token != rec["token"]:
                raise aws_error(400, "UnrecognizedClientException", MSG_UNRECOGNIZED)
            if now() >= rec["expire"]:
                raise aws_error(400, "ExpiredTokenException", MSG_EXPIRED)
            secret = rec["secret"]
        else:
            raise aws_error(400, "UnrecognizedClientException", MSG_UNRECOGNIZED)
        url = urlsplit(self.path)
        want = expected_signature(secret, self.command, url.path, url.query, self.headers, signed,
                                  body, ts, "/".join(parts[1:]))
        if not hmac.compare_digest(want, sig):
            raise aws_error(400, "InvalidSignatureException", MSG_BAD_SIGNATURE)
        return akid

    # ----- operations -------------------------------------------------------------------
    def _get_secret_value(self, st: State, req: dict) -> dict:
        sid = req.get("SecretId")
        if not isinstance(sid, str) or not sid:
            raise aws_error(400, "InvalidParameterException", "Invalid parameter: SecretId")
        name = sid
        m = re.match(r"arn:aws:secretsmanager:[^:]+:\d+:secret:(.+)-[A-Za-z0-9]{6}$", sid)
        if m:
            name = m.group(1)
        if name in st.deny:
            raise aws_error(400, "AccessDeniedException",
                            f"User: arn:aws:sts::{ACCOUNT}:assumed-role/lockbox/i-0 is not authorized "
                            f"to perform: secretsmanager:GetSecretValue on resource: {sid} because no "
                            f"identity-based policy allows the secretsmanager:GetSecretValue action")
        versions = st.secrets.get(name)
        if not versions:
            raise aws_error(400, "ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
        vid, stage = req.get("VersionId"), req.get("VersionStage")
        if vid is not None:
            rec = next((v for v in versions if v["id"] == vid), None)
            if rec is None or (stage and stage not in rec["stages"]):
                raise aws_error(400, "ResourceNotFoundException",
                                f"Secrets Manager can't find the specified secret value for VersionId: {vid}")
        else:
            stage = stage or "AWSCURRENT"
            rec = next((v for v in versions if stage in v["stages"]), None)
            if rec is None:
                raise aws_error(400, "ResourceNotFoundException",
                                f"Secrets Manager can't find the specified secret value for staging label: {stage}")
        out = {"ARN": f"arn:aws:secretsmanager:{st.region}:{ACCOUNT}:secret:{name}-AbCdEf",
               "Name": name, "VersionId": rec["id"], "VersionStages": list(rec["stages"]),
               "CreatedDate": rec["created"]}
        if "binary" in rec:
            out["SecretBinary"] = base64.b64encode(rec["binary"]).decode()
        else:
            out["SecretString"] = rec["string"]
        return out

    def _get_parameter(self, st: State, req: dict) -> dict:
        full = req.get("Name")
        if not isinstance(full, str) or not full:
            raise aws_error(400, "ValidationException", "1 validation error detected: Value null at 'name' failed to satisfy constraint: Member must not be null")
        name, _, selector = full.partition(":")
        if full.startswith("arn:"):
            m = re.match(r"arn:aws:ssm:[^:]+:\d+:parameter(/.*?)(?::([^:/]+))?$", full)
            name, selector = (m.group(1), m.group(2) or "") if m else (full, "")
        if name in st.deny:
            raise aws_error(400, "AccessDeniedException",
                            f"User: arn:aws:sts::{ACCOUNT}:assumed-role/lockbox/i-0 is not authorized "
                            f"to perform: ssm:GetParameter on resource: arn:aws:ssm:{st.region}:{ACCOUNT}:parameter{name if name.startswith('/') else '/' + name}")
        versions = st.params.get(name)
        if not versions:
            raise aws_error(400, "ParameterNotFound")
        if selector:
            if selector.isdigit():
                rec = next((v for v in versions if v["version"] == int(selector)), None)
                if rec is None:
                    raise aws_error(400, "ParameterVersionNotFound",
                                    f"Systems Manager could not find version {selector} of {name}. Verify the version and try again.")
            else:
                rec = next((v for v in versions if selector in v["labels"]), None)
                if rec is None:
                    raise aws_error(400, "ParameterNotFound")
        else:
            rec = versions[-1]
        value = rec["value"]
        if rec["type"] == "SecureString" and req.get("WithDecryption") is not True:
            value = base64.b64encode(b"kms-ciphertext:" + hashlib.sha256(value.encode()).digest()).decode()
        out = {"Name": name, "Type": rec["type"], "Value": value, "Version": rec["version"],
               "LastModifiedDate": rec["created"],
               "ARN": f"arn:aws:ssm:{st.region}:{ACCOUNT}:parameter{name if name.startswith('/') else '/' + name}",
               "DataType": "text"}
        if selector:
            out["Selector"] = ":" + selector
        return {"Parameter": out}


class MetaHandler(BaseHTTPRequestHandler):
    """EC2 instance metadata (IMDSv2 only, as with HttpTokens=required) and the ECS agent."""

    protocol_version = "HTTP/1.1"
    server_version = "EC2ws"
    timeout = 15

    def log_message(self, fmt, *args):
        pass

    def _send(self, status: int, text: str, ctype: str = "text/plain") -> None:
        raw = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def _log(self, what: str, status: int) -> None:
        st: State = self.server.state
        with st.lock:
            st.log.append({"t": now(), "target": what, "name": None, "status": status})
            st.counts[what] = st.counts.get(what, 0) + 1

    def do_PUT(self):
        st: State = self.server.state
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(min(length, 65536))
        if self.path != "/latest/api/token" or st.imds_role is None:
            self._log("imds-token", 404)
            self._send(404, "Not Found")
            return
        ttl = self.headers.get("X-aws-ec2-metadata-token-ttl-seconds", "")
        if not ttl.isdigit() or not 1 <= int(ttl) <= 21600:
            self._log("imds-token", 400)
            self._send(400, "Bad Request")
            return
        tok = "AQAEA" + secrets.token_urlsafe(40)
        with st.lock:
            st.imds_tokens[tok] = now() + int(ttl)
        self._log("imds-token", 200)
        self._send(200, tok)

    def do_GET(self):
        st: State = self.server.state
        path = urlsplit(self.path).path
        if st.ecs_path and path == st.ecs_path:
            if st.ecs_auth and self.headers.get("Authorization") != st.ecs_auth:
                self._log("ecs", 401)
                self._send(401, json.dumps({"message": "Unauthorized"}), "application/json")
                return
            with st.lock:
                creds = st.issue_temp("ecs")
            creds["RoleArn"] = f"arn:aws:iam::{ACCOUNT}:role/lockbox-task"
            self._log("ecs", 200)
            self._send(200, json.dumps(creds), "application/json")
            return
        prefix = "/latest/meta-data/iam/security-credentials/"
        if st.imds_role is None or not path.startswith(prefix):
            self._log("imds-other", 404)
            self._send(404, "Not Found")
            return
        tok = self.headers.get("X-aws-ec2-metadata-token")
        with st.lock:
            ok = tok is not None and st.imds_tokens.get(tok, 0) > now()
        if not ok:
            self._log("imds-creds", 401)
            self._send(401, "Unauthorized")
            return
        role = path[len(prefix):]
        if role == "":
            self._log("imds-role", 200)
            self._send(200, st.imds_role)
            return
        if role != st.imds_role:
            self._log("imds-creds", 404)
            self._send(404, "Not Found")
            return
        with st.lock:
            creds = st.issue_temp("imds")
        out = {"Code": "Success", "LastUpdated": iso8601(now()), "Type": "AWS-HMAC"} | creds
        self._log("imds-creds", 200)
        self._send(200, json.dumps(out, indent=2), "text/plain")


class AdminHandler(AdminJsonHandler):
    server_version = "aws-test-double-admin"

    def do_GET(self):
        st: State = self.server.state
        path = urlsplit(self.path).path
        with st.lock:
            if path == "/admin/requests":
                self._send(200, {"counts": st.counts, "log": st.log, "issued": st.issued})
            elif path == "/admin/secrets":
                self._send(200, {n: [{"VersionId": v["id"], "VersionStages": v["stages"]} for v in vs]
                                 for n, vs in st.secrets.items()})
            elif path == "/admin/state":
                self._send(200, {"faults": st.faults, "temporary_keys": len(st.temp),
                                 "issued": st.issued})
            else:
                self._send(404, {"error": f"unknown admin path {path}"})

    def do_POST(self):
        st: State = self.server.state
        path = urlsplit(self.path).path
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length)) if length else {}
            with st.lock:
                result = self._post(st, path, body)
        except (KeyError, TypeError, ValueError) as exc:
            self._send(400, {"error": f"bad admin request: {exc!r}"})
            return
        if result is None:
            self._send(404, {"error": f"unknown admin path {path}"})
            return
        self._send(200, result)
        if path == "/admin/shutdown":
            self.server.stop_event.set()

    def _post(self, st: State, path: str, body: dict):
        if path == "/admin/fault":
            fault = {"target": str(body.get("target", "*")), "count": int(body.get("count", 1))}
            for k in ("name", "status", "type", "message", "retry_after", "delay", "drop", "malformed"):
                if k in body:
                    fault[k] = body[k]
            st.faults.append(fault)
            return {"faults": st.faults}
        if path == "/admin/clear-faults":
            st.faults.clear()
            return {"faults": []}
        if path == "/admin/secret":
            return st.add_secret_version(str(body["name"]), dict(body))
        if path == "/admin/parameter":
            return st.add_param_version(str(body["name"]), dict(body))
        if path == "/admin/expire-credentials":
            for rec in st.temp.values():
                rec["expire"] = min(rec["expire"], now())
            return {"expired": len(st.temp)}
        if path == "/admin/cred-ttl":
            st.cred_ttl = int(body["ttl"])
            return {"ttl": st.cred_ttl}
        if path == "/admin/deny":
            st.deny.add(str(body["name"]))
            return {}
        if path == "/admin/reset-log":
            st.log.clear()
            st.counts.clear()
            st.issued = {"imds": 0, "ecs": 0}
            return {}
        if path == "/admin/shutdown":
            return {"shutdown": True}
        return None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="AWS Secrets Manager / SSM test double (tests only)")
    ap.add_argument("--seed", required=True, help="JSON seed file (see README.md)")
    ap.add_argument("--tls-dir", required=True, help="directory made by make_ca.sh")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--meta-port", type=int, default=0)
    ap.add_argument("--meta-port-file")
    ap.add_argument("--admin-port", type=int, default=0)
    ap.add_argument("--admin-port-file")
    ap.add_argument("--max-seconds", type=float, default=300.0)
    args = ap.parse_args(argv)
    max_seconds = min(max(args.max_seconds, 1.0), 3600.0)

    with open(args.seed, "r", encoding="utf-8") as fh:
        state = State(json.load(fh))
    api = TLSThreadingServer(("127.0.0.1", args.port), ApiHandler, tls_dir_context(args.tls_dir))
    meta = PlainThreadingServer(("127.0.0.1", args.meta_port), MetaHandler)
    admin = PlainThreadingServer(("127.0.0.1", args.admin_port), AdminHandler)
    for srv in (api, meta, admin):
        srv.state = state
    return run("aws_double", [("admin", admin, args.admin_port_file),
                              ("meta", meta, args.meta_port_file),
                              ("api", api, args.port_file)], max_seconds)


if __name__ == "__main__":
    sys.exit(main())
