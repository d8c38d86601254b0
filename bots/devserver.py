"""A local Synapse for the demo and the end-to-end tests: SQLite, loopback only, from PyPI.

Not for production. Rate limits are lifted, registration happens through the shared-secret
admin API, presence is off and no key servers are trusted. With ``federation=True`` the server
also listens for federation over TLS (a self-signed certificate) on its server-name port, so two
of them on one machine federate with each other (``localhost:PORT`` names need no lookups).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

_LOOSE = {"per_second": 10000, "burst_count": 10000}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _self_signed(directory: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "tls.crt", directory / "tls.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class Homeserver:
    def __init__(
        self,
        directory: Path,
        port: int | None = None,
        *,
        federation: bool = False,
        federation_port: int | None = None,
        peers: list[str] | None = None,
        rate_limits: bool = False,
    ) -> None:
        self.directory = Path(directory).resolve()
        self.config_path = self.directory / "homeserver.yaml"
        self.process: subprocess.Popen[bytes] | None = None
        self.federation = federation
        self.peers = list(peers or [])
        self.rate_limits = rate_limits
        if self.config_path.exists():
            saved = yaml.safe_load(self.config_path.read_text())
            self.port = int(saved["listeners"][0]["port"])
            self.server_name = str(saved["server_name"])
            self.secret = str(saved["registration_shared_secret"])
        else:
            self.port = port or free_port()
            fed = federation_port or (free_port() if federation else None)
            self.server_name = (
                f"localhost:{fed}"
                if federation
                else ("localhost" if port == 8008 else f"localhost:{self.port}")
            )
            self.secret = secrets.token_hex(16)
            self._federation_port = fed

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def user_id(self, localpart: str) -> str:
        return f"@{localpart}:{self.server_name}"

    def prepare(self) -> None:
        """Write the config and keys once; a later run reuses them (and the accounts)."""
        if self.config_path.exists():
            return
        d = self.directory
        d.mkdir(parents=True, exist_ok=True)
        (d / "media").mkdir(exist_ok=True)
        log_config = d / "log.yaml"
        log_config.write_text(
            yaml.safe_dump(
                {
                    "version": 1,
                    "formatters": {"f": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
                    "handlers": {
                        "file": {
                            "class": "logging.FileHandler",
                            "filename": str(d / "homeserver.log"),
                            "formatter": "f",
                        }
                    },
                    "root": {"level": "WARNING", "handlers": ["file"]},
                    "disable_existing_loggers": False,
                }
            )
        )
        listeners: list[dict[str, Any]] = [
            {
                "port": self.port,
                "bind_addresses": ["127.0.0.1"],
                "type": "http",
                "tls": False,
                "x_forwarded": False,
                "resources": [{"names": ["client"], "compress": False}],
            }
        ]
        config: dict[str, Any] = {
            "server_name": self.server_name,
            "pid_file": str(d / "homeserver.pid"),
            "listeners": listeners,
            "database": {"name": "sqlite3", "args": {"database": str(d / "homeserver.db")}},
            "log_config": str(log_config),
            "media_store_path": str(d / "media"),
            "registration_shared_secret": self.secret,
            "report_stats": False,
            "macaroon_secret_key": secrets.token_hex(16),
            "form_secret": secrets.token_hex(16),
            "signing_key_path": str(d / "signing.key"),
            "trusted_key_servers": [],
            "suppress_key_server_warning": True,
            "presence": {"enabled": False},
            "enable_registration": False,
            "url_preview_enabled": False,
            "enable_metrics": False,
        }
        if not self.rate_limits:
            config.update(
                {
                    "rc_message": _LOOSE,
                    "rc_registration": _LOOSE,
                    "rc_admin_redaction": _LOOSE,
                    "rc_login": {"address": _LOOSE, "account": _LOOSE, "failed_attempts": _LOOSE},
                    "rc_joins": {"local": _LOOSE, "remote": _LOOSE},
                    "rc_joins_per_room": _LOOSE,
                    "rc_invites": {"per_room": _LOOSE, "per_user": _LOOSE, "per_issuer": _LOOSE},
                    "rc_key_requests": _LOOSE,
                    "rc_3pid_validation": _LOOSE,
                    "rc_room_creation": _LOOSE,
                    "rc_presence": {"per_user": _LOOSE},
                    "rc_delayed_event_mgmt": _LOOSE,
                    "rc_reports": _LOOSE,
                    "rc_media_create": _LOOSE,
                    "rc_federation": {
                        "window_size": 1000,
                        "sleep_limit": 1000,
                        "sleep_delay": 0,
                        "reject_limit": 10000,
                        "concurrent": 100,
                    },
                }
            )
        if self.federation:
            cert, key = _self_signed(d)
            listeners.append(
                {
                    "port": self._federation_port,
                    "bind_addresses": ["127.0.0.1"],
                    "type": "http",
                    "tls": True,
                    "resources": [{"names": ["federation"], "compress": False}],
                }
            )
            config.update(
                {
                    "tls_certificate_path": str(cert),
                    "tls_private_key_path": str(key),
                    "federation_verify_certificates": False,
                    "ip_range_whitelist": ["127.0.0.0/8", "::1/128"],
                    "federation_ip_range_blacklist": [],
                    "ip_range_blacklist": [],
                    "federation_domain_whitelist": [self.server_name, *self.peers],
                    "allow_public_rooms_over_federation": True,
                    # A request to a peer that failed (a loaded machine, a peer restarting) is
                    # retried within seconds, not after Synapse's default ten minutes, during
                    # which room keys and messages for that peer would wait.
                    "federation": {
                        "destination_min_retry_interval": "1s",
                        "destination_retry_multiplier": 2,
                        "destination_max_retry_interval": "8s",
                    },
                }
            )
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        subprocess.run(
            [
                sys.executable,
                "-m",
                "synapse.app.homeserver",
                "--config-path",
                str(self.config_path),
                "--generate-keys",
            ],
            check=True,
            capture_output=True,
        )

    def start(self, timeout: float = 90) -> None:
        self.prepare()
        if self.process is not None and self.process.poll() is None:
            return
        log = open(self.directory / "stdout.log", "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "synapse.app.homeserver", "--config-path", str(self.config_path)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                tail = (self.directory / "stdout.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"Synapse exited with {self.process.returncode}:\n{tail}")
            try:
                with urllib.request.urlopen(f"{self.url}/_matrix/client/versions", timeout=2) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        raise RuntimeError("Synapse did not start in time")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def _request(self, method: str, path: str, body: Any = None, token: str | None = None) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"{self.url}{path}", data=data, method=method)
        req.add_header("Content-Type", "application/json")
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read() or b"{}")

    def register(self, localpart: str, password: str, admin: bool = False) -> str:
        """Create an account through the shared-secret admin API; an existing one is fine."""
        _, nonce = self._request("GET", "/_synapse/admin/v1/register")
        mac = hmac.new(self.secret.encode(), digestmod=hashlib.sha1)
        mac.update(
            b"\x00".join(
                [
                    nonce["nonce"].encode(),
                    localpart.encode(),
                    password.encode(),
                    b"admin" if admin else b"notadmin",
                ]
            )
        )
        status, body = self._request(
            "POST",
            "/_synapse/admin/v1/register",
            {
                "nonce": nonce["nonce"],
                "username": localpart,
                "password": password,
                "admin": admin,
                "mac": mac.hexdigest(),
            },
        )
        if status != 200 and body.get("errcode") != "M_USER_IN_USE":
            raise RuntimeError(f"registering {localpart} failed: {status} {body}")
        return self.user_id(localpart)

    def login(self, localpart: str, password: str) -> dict[str, Any]:
        status, body = self._request(
            "POST",
            "/_matrix/client/v3/login",
            {
                "type": "m.login.password",
                "identifier": {"type": "m.id.user", "user": localpart},
                "password": password,
            },
        )
        if status != 200:
            raise RuntimeError(f"login {localpart} failed: {status} {body}")
        return body
