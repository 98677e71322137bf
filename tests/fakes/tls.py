"""A throwaway certificate authority for the emulated cloud: Entra and Graph are https only, so is it.

MSAL (behind azure-identity) refuses an authority that is not https (msal/authority.py ``canonicalize``), and
go-azure-sdk reads a metadata host over https only (provider.go, ``https://%s``). So the emulated cloud is
served over TLS with a certificate made here, once per process, for 127.0.0.1 and localhost, signed by a CA
made here too; nothing is written outside a temporary folder and nothing is kept.

Clients trust it the way they trust a corporate CA, through the environment: ``SSL_CERT_FILE`` (httpx, the
tool's Graph client and the test provider; Go's crypto/x509 reads it too) and ``REQUESTS_CA_BUNDLE``
(requests, under azure-core and so under azure-identity and MSAL). The bundle holds certifi's roots as well,
so pointing at it takes nothing away.
"""

from __future__ import annotations

import atexit
import datetime
import functools
import ipaddress
import shutil
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path

import certifi
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class Certificates:
    ca_bundle: Path
    """certifi's roots and the test CA: what clients are told to trust."""
    cert: Path
    key: Path

    def trust_environment(self) -> dict[str, str]:
        """The variables that make httpx, requests (azure-identity, MSAL) and Go trust the test CA."""
        return {"SSL_CERT_FILE": str(self.ca_bundle), "REQUESTS_CA_BUNDLE": str(self.ca_bundle)}

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context


@functools.cache
def certificates() -> Certificates:
    """The process's CA and server certificate (made on first use, removed at exit)."""
    folder = Path(tempfile.mkdtemp(prefix="taxcalc-test-tls-"))
    atexit.register(shutil.rmtree, folder, True)
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "taxcalc-consent test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
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
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    bundle = folder / "ca-bundle.pem"
    bundle.write_bytes(Path(certifi.where()).read_bytes() + b"\n" + ca.public_bytes(serialization.Encoding.PEM))
    cert_file = folder / "server.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file = folder / "server.key"
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return Certificates(bundle, cert_file, key_file)
