"""HTTPS for `serve`: the configured certificate, or a self-signed one for the LAN demo.

A phone on the same Wi-Fi only lets a page use its camera from a secure context, so
`serve --lan` needs HTTPS on the machine's LAN address. The certificate is made once into
the data folder and reused; it is made again when it expires or no longer names the
address the server listens on.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import socket
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

CERT_NAME = "lan-cert.pem"
KEY_NAME = "lan-key.pem"
VALID_DAYS = 365
RENEW_BEFORE = datetime.timedelta(days=7)
# Any routable address: nothing is sent, connect() on UDP only picks the outgoing route.
ROUTE_PROBE = ("192.0.2.1", 9)


class TlsError(ValueError):
    """The certificate or key cannot be used; the message says which file and why."""


def lan_address() -> str:
    """The IPv4 address of the interface the default route leaves by; with no default route,
    the address the machine's name resolves to, else 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(ROUTE_PROBE)
            return str(probe.getsockname()[0])
        except OSError:
            pass
    try:
        return socket.gethostbyname(socket.gethostname())
    except OSError:
        return "127.0.0.1"


def server_context(cert: str | Path, key: str | Path) -> ssl.SSLContext:
    """A server-side TLS context from PEM files; TlsError names what is wrong."""
    for what, path in (("tls_cert", cert), ("tls_key", key)):
        if not Path(path).is_file():
            raise TlsError(f"http.{what}: {path} is not a readable file")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(str(cert), str(key))
    except (ssl.SSLError, OSError) as exc:
        raise TlsError(f"http.tls_cert/http.tls_key: {cert} and {key} are not a matching "
                       f"PEM certificate and private key ({exc.__class__.__name__}: "
                       f"{getattr(exc, 'reason', None) or exc})") from None
    return context


def _usable(cert_path: Path, address: str, now: datetime.datetime) -> bool:
    """Whether the saved certificate is still valid for a while and names ``address``."""
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (OSError, ValueError, x509.ExtensionNotFound):
        return False
    ips = {str(ip) for ip in names.get_values_for_type(x509.IPAddress)}
    return address in ips and cert.not_valid_after_utc - RENEW_BEFORE > now


def self_signed(data_dir: Path, address: str) -> tuple[Path, Path, bool]:
    """The LAN certificate and key in ``data_dir``, made now if missing, expiring or not
    naming ``address``. Returns (cert, key, made)."""
    cert_path, key_path = data_dir / CERT_NAME, data_dir / KEY_NAME
    now = datetime.datetime.now(datetime.UTC)
    if key_path.is_file() and _usable(cert_path, address, now):
        return cert_path, key_path, False
    data_dir.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"Stallcast {address}")])
    ips = {ipaddress.ip_address(a) for a in (address, "127.0.0.1")}
    san = x509.SubjectAlternativeName(
        [x509.DNSName("localhost"), *(x509.IPAddress(ip) for ip in sorted(ips, key=str))])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
            .add_extension(san, critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    key_bytes = key.private_bytes(serialization.Encoding.PEM,
                                  serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption())
    _write_private(key_path, key_bytes)
    _write_private(cert_path, cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path, True


def _write_private(path: Path, data: bytes) -> None:
    """Write ``data`` readable by the owner only (0600), replacing the file atomically."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
