"""Bearer tokens scoped to namespaces: who may read and who may write what.

The operator lists tokens in a JSON file (``PEDIGREE_API_TOKENS_FILE``), each by its SHA-256
hash, never in clear::

    {"tokens": [
      {"name": "vision-team", "sha256": "<hex of sha256(token)>",
       "read": ["vision", "shared"], "write": ["vision"]},
      {"name": "platform", "sha256": "...", "read": ["*"], "write": []}
    ]}

A namespace pattern is a namespace, or a glob (``team-*``, ``s3://vision-*``; ``*`` is every
namespace).  ``pedigree token`` prints a new random token and the entry for it.  Tokens are
random and long, so one unsalted SHA-256 is the right hash (a password hash would only slow
every request down); comparison is constant-time.
"""

from __future__ import annotations

import fnmatch
import hashlib
import hmac
import json
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "ANONYMOUS",
    "AuthConfigError",
    "Principal",
    "TokenTable",
    "hash_token",
    "new_token",
]


class AuthConfigError(ValueError):
    """The token file is missing, unreadable or malformed."""


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return "pdg_" + secrets.token_urlsafe(32)


def _matches(patterns: tuple[str, ...], namespace: str) -> bool:
    return any(fnmatch.fnmatchcase(namespace, p) for p in patterns)


@dataclass(frozen=True)
class Principal:
    """Who is asking: a token's name and its read/write namespace patterns."""

    name: str
    read: tuple[str, ...]
    write: tuple[str, ...]

    def can_read(self, namespace: str) -> bool:
        return _matches(self.read, namespace) or _matches(self.write, namespace)

    def can_write(self, namespace: str) -> bool:
        return _matches(self.write, namespace)

    @property
    def reads_everything(self) -> bool:
        return "*" in self.read or "*" in self.write


ANONYMOUS = Principal("anonymous (auth off)", ("*",), ("*",))
"""Everyone, when the operator turned authentication off."""


def _patterns(entry: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = entry.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise AuthConfigError(f"{where}.{key} must be a list of namespace patterns")
    return tuple(value)


@dataclass(frozen=True)
class TokenTable:
    """The configured tokens, by hash."""

    principals: Mapping[str, Principal]

    @classmethod
    def from_entries(cls, entries: Iterable[Mapping[str, Any]]) -> TokenTable:
        table: dict[str, Principal] = {}
        for i, entry in enumerate(entries):
            where = f"tokens[{i}]"
            if not isinstance(entry, Mapping):
                raise AuthConfigError(f"{where} must be an object")
            name, digest = entry.get("name"), entry.get("sha256")
            if not isinstance(name, str) or not name:
                raise AuthConfigError(f"{where}.name must be a non-empty string")
            if not isinstance(digest, str) or len(digest) != 64:
                raise AuthConfigError(
                    f"{where}.sha256 must be the 64-hex-digit SHA-256 of the token "
                    "(never the token itself; `pedigree token` prints both)"
                )
            try:
                bytes.fromhex(digest)
            except ValueError:
                raise AuthConfigError(f"{where}.sha256 is not hexadecimal") from None
            if digest.lower() in table:
                raise AuthConfigError(f"{where}: the same token hash is listed twice")
            table[digest.lower()] = Principal(
                name, _patterns(entry, "read", where), _patterns(entry, "write", where)
            )
        return cls(table)

    @classmethod
    def load(cls, path: str | Path) -> TokenTable:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as err:
            raise AuthConfigError(f"cannot read the token file {path}: {err.strerror}") from None
        except ValueError as err:
            raise AuthConfigError(f"the token file {path} is not JSON: {err}") from None
        if not isinstance(data, Mapping) or not isinstance(data.get("tokens"), list):
            raise AuthConfigError(f'the token file {path} must hold {{"tokens": [...]}}')
        return cls.from_entries(data["tokens"])

    def authenticate(self, token: str) -> Principal | None:
        digest = hash_token(token)
        for known, principal in self.principals.items():
            if hmac.compare_digest(known, digest):
                return principal
        return None
