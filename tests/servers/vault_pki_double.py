"""vault_pki_double.py - Vault's PKI secrets engine, pki/issue/ROLE only, for vault_double.py.

A TEST DOUBLE for lockbox tests, not Vault. Hooked into vault_double.py's router for mounts
of type "pki" (seed: {"mounts": {"pki/": {"type": "pki", "roles": {"web": {...}}}}}).
At first use a test CA is made with the openssl CLI (EC P-256, in a temporary directory);
each issue makes a new key and a real certificate signed by it with `openssl ca`, with
Vault's exact validity (NotBefore backdated 30 s, NotAfter = now + ttl), and answers with
the fields of Vault's API (api-docs/secret/pki#generate-certificate-and-key): certificate,
issuing_ca, ca_chain, private_key (traditional PEM, as Vault's "pem" format),
private_key_type, serial_number (colon hex) and expiration (Unix seconds).

Role keys: ttl, max_ttl (durations; a requested ttl above max_ttl is capped with a warning,
as Vault does), allowed_domains (list), allow_subdomains, allow_any_name (default true).
Request keys: common_name (required), alt_names (comma-separated DNS names), ip_sans, ttl.
Admin: GET /admin/pki (in vault_double.py's requests log) is not needed: tests count
pki/issue/ROLE in /admin/requests and read serials from the certificates.
"""

import atexit
import datetime
import ipaddress
import os
import re
import shutil
import subprocess
import tempfile
import threading

_LOCK = threading.Lock()
BACKDATE_SECONDS = 30


def _duration(value) -> int:
    if value is None or value == "":
        return 0
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value)
    text = str(value).strip()
    if text.isdigit():
        return int(text)
    if not re.fullmatch(r"(\d+[hms])+", text):
        raise ValueError(f"time: invalid duration {text!r}")
    return sum(int(n) * {"h": 3600, "m": 60, "s": 1}[u] for n, u in re.findall(r"(\d+)([hms])", text))


def _openssl(*args, cwd=None, data=None) -> bytes:
    return subprocess.run(["openssl", *args], cwd=cwd, input=data, check=True,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30).stdout


def _asn1_time(ts: float) -> str:
    return datetime.datetime.fromtimestamp(int(ts), datetime.timezone.utc).strftime("%Y%m%d%H%M%SZ")


class PKI:
    """One pki mount: its CA and roles."""

    def __init__(self, seed: dict):
        self.roles = dict(seed.get("roles", {}))
        self.max_lease_ttl = _duration(seed.get("max_lease_ttl", 0)) or 2764800
        self.dir = tempfile.mkdtemp(prefix="vault-pki-double.")
        atexit.register(shutil.rmtree, self.dir, True)
        os.makedirs(os.path.join(self.dir, "certs"))
        open(os.path.join(self.dir, "index.txt"), "w").close()
        with open(os.path.join(self.dir, "ca.cnf"), "w") as fh:
            fh.write(f"""[ca]
default_ca = ca_default
[ca_default]
dir = {self.dir}
database = $dir/index.txt
new_certs_dir = $dir/certs
serial = $dir/serial
certificate = $dir/ca.crt
private_key = $dir/ca.key
default_md = sha256
policy = policy_any
unique_subject = no
email_in_dn = no
[policy_any]
commonName = supplied
[req]
distinguished_name = dn
[dn]
""")
        _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                 "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj",
                 "/CN=lockbox test double PKI CA", "-config", "ca.cnf", cwd=self.dir)
        with open(os.path.join(self.dir, "ca.crt")) as fh:
            self.ca_pem = fh.read()

    def issue(self, role_name: str, body: dict):
        """(status, data or error list, warnings)."""
        role = self.roles.get(role_name)
        if role is None:
            return 400, [f'unknown role: {role_name}'], None
        cn = str(body.get("common_name", "") or "")
        if not cn:
            return 400, ['the common_name field is required, or must be provided in a CSR with '
                         '"use_csr_common_name" set to true, unless "require_cn" is set to false'], None
        names = [cn] + [n.strip() for n in str(body.get("alt_names", "") or "").split(",") if n.strip()]
        if not role.get("allow_any_name", True):
            allowed = role.get("allowed_domains", [])
            sub = role.get("allow_subdomains", False)
            for n in names:
                if not any(n == d or (sub and n.endswith("." + d)) for d in allowed):
                    return 400, [f"common name {n} not allowed by this role" if n == cn
                                 else f"subject alternate name {n} not allowed by this role"], None
        ips = [i.strip() for i in str(body.get("ip_sans", "") or "").split(",") if i.strip()]
        try:
            for i in ips:
                ipaddress.ip_address(i)
            ttl = _duration(body.get("ttl")) or _duration(role.get("ttl")) or self.max_lease_ttl
            max_ttl = _duration(role.get("max_ttl")) or self.max_lease_ttl
        except ValueError as exc:
            return 400, [str(exc)], None
        warnings = None
        if ttl > max_ttl:
            warnings = [f"TTL of {ttl}s is greater than the role's max TTL of {max_ttl}s; capping"]
            ttl = max_ttl
        with _LOCK:
            return self._sign(names, ips, ttl, warnings)

    def _sign(self, names, ips, ttl, warnings):
        d = self.dir
        now = datetime.datetime.now(datetime.timezone.utc).timestamp()
        not_after = int(now) + ttl
        san = ",".join([f"DNS:{n}" for n in names] + [f"IP:{i}" for i in ips])
        with open(os.path.join(d, "ext.cnf"), "w") as fh:
            fh.write(f"subjectAltName={san}\nbasicConstraints=CA:FALSE\n"
                     "keyUsage=digitalSignature,keyEncipherment,keyAgreement\n"
                     "extendedKeyUsage=serverAuth,clientAuth\n")
        _openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                 "-keyout", "leaf.key", "-out", "leaf.csr", "-subj", f"/CN={names[0]}",
                 "-config", "ca.cnf", cwd=d)
        _openssl("ca", "-batch", "-config", "ca.cnf", "-rand_serial", "-notext",
                 "-startdate", _asn1_time(now - BACKDATE_SECONDS), "-enddate", _asn1_time(not_after),
                 "-extfile", "ext.cnf", "-in", "leaf.csr", "-out", "leaf.crt", cwd=d)
        key = _openssl("pkey", "-in", "leaf.key", "-traditional", cwd=d).decode()
        cert = open(os.path.join(d, "leaf.crt")).read()
        serial = _openssl("x509", "-in", "leaf.crt", "-noout", "-serial", cwd=d).decode()
        serial = serial.strip().split("=", 1)[1].lower()
        serial = serial.rjust(len(serial) + len(serial) % 2, "0")
        for f in ("leaf.key", "leaf.csr", "leaf.crt"):
            os.unlink(os.path.join(d, f))
        data = {
            "certificate": cert.strip(),
            "issuing_ca": self.ca_pem.strip(),
            "ca_chain": [self.ca_pem.strip()],
            "private_key": key.strip(),
            "private_key_type": "ec",
            "serial_number": ":".join(serial[i:i + 2] for i in range(0, len(serial), 2)),
            "expiration": not_after,
        }
        return 200, data, warnings


def route(handler, mount: str, m: dict, rel: str, method: str, body: dict):
    """vault_double.py's hook for a pki mount: (status, payload, headers)."""
    parts = rel.split("/")
    if len(parts) != 2 or parts[0] != "issue" or method not in ("POST", "PUT"):
        return 404, {"errors": [f'no handler for route "{mount}{rel}". route entry not found.']}, {}
    with _LOCK:
        pki = m.get("pki")
        if pki is None:
            pki = m["pki"] = PKI(m.get("seed", {}))
    status, data, warnings = pki.issue(parts[1], body)
    if status != 200:
        return status, {"errors": data}, {}
    return 200, handler._envelope(data, warnings=warnings, mount_type="pki"), {}
