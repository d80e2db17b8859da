"""Authenticated encryption of backups with age (``pyrage``): a changed byte fails decryption.

Encrypting needs only the public key (``BACKUP_AGE_RECIPIENT``, ``age1...``), so the machine that
takes backups cannot read them; verifying and restoring need the secret key
(``BACKUP_AGE_IDENTITY``, ``AGE-SECRET-KEY-1...``). Both come from the environment, never from
settings files (docs/security.md). ``upstack backup key`` prints a new pair. Streams end to end
(``pyrage.encrypt_io``): a dump is never held in memory.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

RECIPIENT_ENV = "BACKUP_AGE_RECIPIENT"
IDENTITY_ENV = "BACKUP_AGE_IDENTITY"
SUFFIX = ".age"


class DecryptionFailed(RuntimeError):
    pass


def recipient():
    """The public key backups are encrypted to, or None when backups are not encrypted."""
    from pyrage import RecipientError, x25519

    value = os.environ.get(RECIPIENT_ENV, "").strip()
    if not value:
        return None
    try:
        return x25519.Recipient.from_str(value)
    except RecipientError:
        raise ValueError(f"{RECIPIENT_ENV} is not an age public key (age1...); `manage.py upstack backup key` "
                         "makes a pair") from None


def identity():
    from pyrage import IdentityError, x25519

    value = os.environ.get(IDENTITY_ENV, "").strip()
    if not value:
        raise ValueError(f"the backup is encrypted: set {IDENTITY_ENV} to the secret key (AGE-SECRET-KEY-1...) "
                         f"whose public key was {RECIPIENT_ENV} when it was made")
    try:
        return x25519.Identity.from_str(value)
    except IdentityError:
        raise ValueError(f"{IDENTITY_ENV} is not an age secret key (AGE-SECRET-KEY-1...)") from None


def new_pair() -> dict:
    from pyrage import x25519

    secret = x25519.Identity.generate()
    return {RECIPIENT_ENV: str(secret.to_public()), IDENTITY_ENV: str(secret)}


def encrypt_stream(reader, writer, to) -> None:
    import pyrage

    pyrage.encrypt_io(reader, writer, [to])


def decrypt_file(source: Path, target: Path) -> Path:
    """Decrypt ``source`` into ``target``; ``DecryptionFailed`` (and no ``target``) when any byte was
    changed, the file was cut short, or the key is not the one it was made for."""
    import pyrage

    key = identity()
    try:
        with open(source, "rb") as src, open(target, "wb") as out:
            pyrage.decrypt_io(src, out, [key])
    except (OSError, pyrage.DecryptError) as exc:
        target.unlink(missing_ok=True)
        raise DecryptionFailed(f"{source.name} could not be decrypted ({exc}): it was changed or cut short "
                               f"since it was made, or {IDENTITY_ENV} is not its key") from None
    return target


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as src:
        for block in iter(lambda: src.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


__all__ = ["IDENTITY_ENV", "RECIPIENT_ENV", "SUFFIX", "DecryptionFailed", "decrypt_file", "encrypt_stream",
           "identity", "new_pair", "recipient", "sha256"]
