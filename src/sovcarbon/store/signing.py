"""The registry's signing key behind a small ``Signer`` protocol.

The key signs journal checkpoints and retirement certificates. It must not live beside the data it
protects: an intruder who can rewrite the database files must not also be able to re-sign them. So:

| rule | refusal (``SigningKeyError``, one actionable line) |
|---|---|
| the key file is SOVCARBON_SIGNING_KEY_FILE (PEM, Ed25519) | a missing file names the command that creates one |
| the file is readable by its owner only (mode 0600 or 0400) | names the ``chmod`` to run |
| the file is outside the data directory | unless demo or tests opt in (``serve --demo``, ALLOW_KEY_IN_DATA_DIR) |
| only the demo location may be generated on first start | production keys are created once, explicitly |

An HSM plugs in as another ``Signer`` (``key_id`` + ``sign``): e.g. a PKCS#11 signer calling
``C_Sign`` with ``CKM_EDDSA`` on a key whose ``CKA_SENSITIVE``/non-extractable attributes keep it in
the token (docs/security.md).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Protocol, runtime_checkable

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

DEMO_KEY_NAME = "registry_signing_key.pem"


class SigningKeyError(RuntimeError):
    """The signing key is missing, exposed or misplaced; the message says what to do."""


@runtime_checkable
class Signer(Protocol):
    """What the registry needs from a key: its public key (hex, the key id) and Ed25519 signatures."""

    @property
    def public_key_hex(self) -> str: ...

    def sign(self, message: bytes) -> bytes: ...


class Ed25519FileSigner:
    """A software key loaded from a PEM file."""

    def __init__(self, key: Ed25519PrivateKey) -> None:
        self._key = key
        self._public_key_hex = key.public_key().public_bytes(serialization.Encoding.Raw,
                                                             serialization.PublicFormat.Raw).hex()

    @property
    def public_key_hex(self) -> str:
        return self._public_key_hex

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message)


def _inside(path: Path, directory: Path) -> bool:
    path, directory = path.resolve(), directory.resolve()
    return path == directory or directory in path.parents


def write_new_key(path: Path) -> Ed25519PrivateKey:
    """Create a new Ed25519 key at ``path`` (mode 0600, never overwriting an existing file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    return key


def load_signer(path: Path, *, data_dir: Path | None = None, allow_in_data_dir: bool = False) -> Ed25519FileSigner:
    """Load the registry key from ``path`` under the rules of this module's table."""
    in_data_dir = data_dir is not None and _inside(path, data_dir)
    if in_data_dir and not allow_in_data_dir:
        raise SigningKeyError(
            f"the signing key {path} is inside the data directory {data_dir}: set SOVCARBON_SIGNING_KEY_FILE to a "
            "key file outside it (create one with `sovcarbon admin create-signing-key FILE`), or for a demo only "
            "run `sovcarbon serve --demo` / set SOVCARBON_ALLOW_KEY_IN_DATA_DIR=1")
    if not path.exists():
        if not in_data_dir:
            raise SigningKeyError(f"the signing key file {path} does not exist: create it once with "
                                  f"`sovcarbon admin create-signing-key {path}` (or point SOVCARBON_SIGNING_KEY_FILE "
                                  "at the existing key)")
        return Ed25519FileSigner(write_new_key(path))
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise SigningKeyError(f"the signing key file {path} is readable by others (mode {mode:04o}): "
                              f"run `chmod 600 {path}`")
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError) as exc:
        raise SigningKeyError(f"the signing key file {path} is not an unencrypted PEM private key: {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(f"the signing key file {path} holds a {type(key).__name__}, not an Ed25519 key")
    return Ed25519FileSigner(key)
