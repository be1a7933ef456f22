"""FAKE of the IAM Credentials API's signBlob endpoint, for the keyless signing test.

The storage library calls https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/
{email}:signBlob with the access token it was given. It cannot be pointed at another URL, but it
sends the request through `requests`, which honours HTTPS_PROXY and REQUESTS_CA_BUNDLE. This
fake is that proxy: it accepts the CONNECT, speaks TLS with a certificate for the real host name
issued by a throwaway CA (the test trusts only that CA), answers signBlob by signing with a
throwaway RSA key, and records every call. Nothing leaves the machine.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import socketserver
import ssl
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

IAM_HOST = "iamcredentials.googleapis.com"
_SIGN_BLOB = re.compile(r"^/v1/projects/-/serviceAccounts/(?P<email>[^/:]+):signBlob(\?.*)?$")


@dataclass
class SignBlobCall:
    connect_target: str
    path: str
    email: str
    authorization: str
    payload: bytes


def _cert(
    subject: str, key: rsa.RSAPrivateKey, issuer: x509.Name, issuer_key: rsa.RSAPrivateKey, ca: bool
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    else:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(subject)]), critical=False
        )
    return builder.sign(issuer_key, hashes.SHA256())


@dataclass
class FakeIamCredentials:
    workdir: Path
    expected_token: str
    signing_key: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    calls: list[SignBlobCall] = field(default_factory=list)

    def __post_init__(self) -> None:
        ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gazokako test CA")])
        ca_cert = _cert("gazokako test CA", ca_key, ca_name, ca_key, ca=True)
        leaf_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        leaf_cert = _cert(IAM_HOST, leaf_key, ca_name, ca_key, ca=False)
        self.ca_bundle = self.workdir / "fake-iam-ca.pem"
        self.ca_bundle.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
        chain = self.workdir / "fake-iam-leaf.pem"
        chain.write_bytes(
            leaf_cert.public_bytes(serialization.Encoding.PEM)
            + leaf_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        self._tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._tls.load_cert_chain(chain)
        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.proxy_url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def public_key(self) -> rsa.RSAPublicKey:
        return self.signing_key.public_key()

    def start(self) -> FakeIamCredentials:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _answer(
        self, target: str, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, Any]]:
        match = _SIGN_BLOB.fullmatch(path)
        if method != "POST" or match is None:
            return 404, {"error": {"code": 404, "message": "not found", "status": "NOT_FOUND"}}
        auth = headers.get("authorization", "")
        payload = base64.b64decode(json.loads(body)["payload"])
        self.calls.append(SignBlobCall(target, path, match["email"], auth, payload))
        if auth != f"Bearer {self.expected_token}":
            return 401, {
                "error": {"code": 401, "message": "bad token", "status": "UNAUTHENTICATED"}
            }
        signature = self.signing_key.sign(payload, padding.PKCS1v15(), hashes.SHA256())
        return 200, {"keyId": "fake-key", "signedBlob": base64.b64encode(signature).decode()}

    def _handler(self) -> type[socketserver.StreamRequestHandler]:
        fake = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                method, target, _ = self.rfile.readline().decode("latin-1").split(" ", 2)
                _read_headers(self.rfile)
                if method != "CONNECT":
                    self.wfile.write(
                        b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n"
                    )
                    return
                self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
                self.wfile.flush()
                with fake._tls.wrap_socket(self.connection, server_side=True) as tls:
                    reader = tls.makefile("rb")
                    method, path, _ = reader.readline().decode("latin-1").split(" ", 2)
                    headers = _read_headers(reader)
                    body = reader.read(int(headers.get("content-length", "0")))
                    status, answer = fake._answer(target, method, path, headers, body)
                    data = json.dumps(answer).encode()
                    tls.sendall(
                        f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n"
                        f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n".encode()
                        + data
                    )

        return Handler


def _read_headers(reader: Any) -> dict[str, str]:
    headers: dict[str, str] = {}
    while True:
        line = reader.readline().decode("latin-1")
        if line in ("\r\n", "\n", ""):
            return headers
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
