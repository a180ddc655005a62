"""Ed25519 signatures over ledger checkpoints and export trailers. What is signed is the RFC 8785 canonical JSON
of a small record; anyone with the public key checks it, offline."""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

ALGORITHM = "Ed25519"


def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def signed_bytes(record: dict[str, Any]) -> bytes:
    """What a signature covers: the record without its signature, canonical."""
    return bytes(rfc8785.dumps({k: v for k, v in record.items() if k != "signature"}))


@dataclass(frozen=True)
class Signer:
    private: Ed25519PrivateKey

    @property
    def public(self) -> Ed25519PublicKey:
        return self.private.public_key()

    @property
    def key_id(self) -> str:
        return key_id(self.public)

    def sign(self, record: dict[str, Any]) -> dict[str, Any]:
        """The record with `key_id` and `signature` (base64) added."""
        body = {**record, "key_id": self.key_id}
        return {**body, "signature": base64.b64encode(self.private.sign(signed_bytes(body))).decode()}

    def public_pem(self) -> str:
        return self.public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()


def check(record: dict[str, Any], public: Ed25519PublicKey) -> str | None:
    """None if the record's signature is the key's over its content; otherwise why not."""
    if record.get("key_id") != key_id(public):
        return f"signed by key {record.get('key_id')}, not by the given key {key_id(public)}"
    try:
        public.verify(base64.b64decode(str(record.get("signature", ""))), signed_bytes(record))
    except (InvalidSignature, ValueError):
        return "the signature does not verify (the record was changed, or signed by someone else)"
    return None


def load_public_key(text: str) -> Ed25519PublicKey:
    """A PEM public key, or the base64 of the raw 32 bytes (as GET /v1/audit/public-key gives both)."""
    text = text.strip()
    if text.startswith("-----BEGIN"):
        key = serialization.load_pem_public_key(text.encode())
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError("not an Ed25519 public key")
        return key
    return Ed25519PublicKey.from_public_bytes(base64.b64decode(text))


def load_signer(setting: str | None, data_dir: Path, *, sandbox: bool) -> Signer:
    """The key from GATEWAY_LEDGER_SIGNING_KEY: a PEM file, or the base64 of the raw 32-byte private key. In the
    sandbox, without one, a key is made once and kept in the data directory (readable by its owner only)."""
    if setting:
        path = Path(setting)
        if path.is_file():
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
            if not isinstance(key, Ed25519PrivateKey):
                raise ValueError(f"{path} is not an Ed25519 private key")
            return Signer(key)
        return Signer(Ed25519PrivateKey.from_private_bytes(base64.b64decode(setting)))
    if not sandbox:
        raise ValueError(
            "GATEWAY_LEDGER_SIGNING_KEY is required outside the sandbox (an Ed25519 key, PEM file)"
        )
    path = data_dir / "ledger-signing-key.pem"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        # Written aside and linked into place: of several processes starting at once, one key wins, whole.
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return load_signer(str(path), data_dir, sandbox=True)


def local_public_key(setting: str | None, data_dir: Path) -> Ed25519PublicKey | None:
    """The public half of the configured key, or of the sandbox's key if one was made; never a new key."""
    if setting:
        return load_signer(setting, data_dir, sandbox=False).public
    path = data_dir / "ledger-signing-key.pem"
    return load_signer(str(path), data_dir, sandbox=True).public if path.is_file() else None
