"""HTTPS for `engine serve --tls-cert CERT --tls-key KEY`: granian's own TLS (rustls), with
ALPN offering h2 and http/1.1 on the same port, as AWS endpoints do.

The files are checked before the server starts (PEM certificate, PEM private key, and that the
key is the certificate's), so a wrong path or a swapped pair is one clear message instead of a
worker failing to start. `write_self_signed` makes a pair for local use and tests.
"""
from __future__ import annotations

import datetime
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from granian.constants import SSLProtocols

# TLS 1.2 still: older Java runtimes and SDK HTTP clients negotiate no higher (granian's default is 1.3)
TLS_PROTOCOL_MIN = SSLProtocols.tls12
SELF_SIGNED_DAYS = 365
SELF_SIGNED_HOSTS = ("localhost", "127.0.0.1", "::1")


def granian_options(cert: str | Path, key: str | Path, key_password: str | None = None) -> dict:
    """Keyword arguments for granian's Server that serve HTTPS with this certificate and key;
    ValueError naming the problem when the files are not a matching PEM pair."""
    cert_path, key_path = Path(cert), Path(key)
    try:
        certificate = x509.load_pem_x509_certificate(cert_path.read_bytes())
    except (OSError, ValueError) as error:
        raise ValueError(f"--tls-cert {cert_path}: not a readable PEM certificate ({error})") from None
    try:
        private_key = serialization.load_pem_private_key(
            key_path.read_bytes(), key_password.encode() if key_password else None)
    except (OSError, ValueError, TypeError) as error:
        raise ValueError(f"--tls-key {key_path}: not a readable PEM private key ({error})") from None
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    if (private_key.public_key().public_bytes(serialization.Encoding.DER, public)
            != certificate.public_key().public_bytes(serialization.Encoding.DER, public)):
        raise ValueError(f"--tls-key {key_path} is not the private key of --tls-cert {cert_path}")
    return {"ssl_cert": cert_path, "ssl_key": key_path, "ssl_key_password": key_password,
            "ssl_protocol_min": TLS_PROTOCOL_MIN}


def write_self_signed(directory: str | Path, hosts=SELF_SIGNED_HOSTS) -> tuple[Path, Path]:
    """A self-signed certificate for `hosts` (DNS names or IP addresses) and its key, written
    as cert.pem and key.pem under `directory`; returns their paths."""
    directory = Path(directory)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])])
    alt_names = []
    for host in hosts:
        try:
            alt_names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            alt_names.append(x509.DNSName(host))
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (x509.CertificateBuilder()
                   .subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(minutes=5))
                   .not_valid_after(now + datetime.timedelta(days=SELF_SIGNED_DAYS))
                   .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
                   .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                   .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    return cert_path, key_path
