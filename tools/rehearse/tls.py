"""A self-signed certificate for the TLS Secrets a plan mounts (cert-manager or your PKI writes them on a cluster).

The certificate names 127.0.0.1 and localhost (where the rehearsal's clients call the published
port) and the cluster's head container; the clients trust exactly this certificate.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from platform_facts.project import PROJECT_NAME

__all__ = ["SelfSignedCertificate", "self_signed_certificate"]

TLS_KEYS = ("tls.crt", "tls.key")


@dataclass(frozen=True)
class SelfSignedCertificate:
    certificate_pem: str
    key_pem: str


def self_signed_certificate(dns_names: Sequence[str], valid_days: int = 2) -> SelfSignedCertificate:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{PROJECT_NAME} rehearsal")])
    now = dt.datetime.now(dt.UTC)
    alternative_names: list[x509.GeneralName] = [x509.DNSName(dns) for dns in ("localhost", *dns_names)]
    alternative_names.append(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=valid_days))
        .add_extension(x509.SubjectAlternativeName(alternative_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return SelfSignedCertificate(
        certificate.public_bytes(serialization.Encoding.PEM).decode(),
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode(),
    )
