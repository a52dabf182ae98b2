"""The software environment of a run: host, OS, Python, packages, allow-listed variables.

:func:`capture_environment` builds the ``pedigree_environment`` facet.

* **Packages** are the installed distributions as ``name==version`` (names normalized as PEP 503
  does: lower case, runs of ``-_.`` as ``-``), sorted by name, the first found on ``sys.path``
  winning.
  The list is bounded by ``config.max_packages``; when cut, its last entry says how many were
  left out (``...(+123 more)``).  ``packagesHash`` is ``sha256:`` + the hex sha256 of the *full*
  list, one entry per line, each ending in ``\\n`` — exact even when the list is cut.  Both are
  computed once per process.
* **Environment variables** are those matching ``config.env_allowlist`` (shell patterns,
  case-sensitive), minus any that look secret — by name (:func:`looks_secret_name`) or by
  value (:func:`looks_secret_value`) — even when allow-listed by exact name.  Values longer than
  4096 characters are cut.
"""

from __future__ import annotations

import functools
import hashlib
import math
import os
import platform
import re
import socket
from collections import Counter
from collections.abc import Mapping
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any

from emitters.capture import harmless, logger
from emitters.facets import facet

if TYPE_CHECKING:
    from emitters.capture.kubernetes_pod import PodInfo
    from emitters.config import EmitterConfig

__all__ = [
    "MAX_ENV_VALUE_CHARS",
    "allowed_env_vars",
    "bounded_packages",
    "capture_environment",
    "installed_packages",
    "looks_secret_name",
    "looks_secret_value",
    "packages_hash",
]

MAX_ENV_VALUE_CHARS = 4096

# --- what looks secret ------------------------------------------------------------------------

_SECRET_MARKERS = (
    "TOKEN",
    "SECRET",
    "PASSWORD",
    "PASSWD",
    "PASSPHRASE",
    "KEY",
    "CREDENTIAL",
    "CREDS",
    "AUTH",
    "COOKIE",
    "SESSION",
    "PRIVATE",
)
# Words that contain a marker but name no secret (ML code is full of tokens and keypoints).
_BENIGN_WORDS = frozenset(
    {
        "KEYBOARD",
        "KEYFRAME",
        "KEYFRAMES",
        "KEYPOINT",
        "KEYPOINTS",
        "KEYWORD",
        "KEYWORDS",
        "MONKEY",
        "TOKENS",
        "TOKENIZER",
        "TOKENIZERS",
        "TOKENIZED",
        "TOKENIZATION",
        "AUTHOR",
        "AUTHORS",
    }
)
_NOT_SECRET_NAMES = frozenset({"PWD", "OLDPWD"})  # the shell's working directories


def looks_secret_name(name: str) -> bool:
    """Whether a variable (or option) name suggests a secret.

    Each word of the name (split at anything not a letter or digit) is checked for TOKEN,
    SECRET, PASSWORD, PASSWD, PASSPHRASE, KEY, CREDENTIAL, CREDS, AUTH, COOKIE, SESSION or
    PRIVATE anywhere in it (``APIKEY``, ``HF_TOKEN``, ``AUTHORIZATION``), and for the words PASS
    and PWD or a word ending in PASS (``PGPASS``).  Words that merely contain a marker are let
    through: KEYBOARD, KEYFRAME(S), KEYPOINT(S), KEYWORD(S), MONKEY, TOKENS (``MAX_TOKENS``),
    TOKENIZER(S), TOKENIZED, TOKENIZATION, AUTHOR(S) (``GIT_AUTHOR_NAME``).  False positives only
    leave a variable out; false negatives would leak it.
    """
    upper = name.upper()
    if upper in _NOT_SECRET_NAMES:
        return False
    for word in re.split(r"[^A-Z0-9]+", upper):
        if word in _BENIGN_WORDS:
            continue
        if any(marker in word for marker in _SECRET_MARKERS):
            return True
        if word in ("PASS", "PWD") or word.endswith("PASS"):
            return True
    return False


_SECRET_VALUE = re.compile(
    "|".join(
        (
            r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}",  # JWT (header.payload…)
            r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}\b",  # AWS access key id
            r"\bgh[pousr]_[A-Za-z0-9]{20,}",  # GitHub tokens
            r"\bgithub_pat_[A-Za-z0-9_]{20,}",
            r"\bglpat-[A-Za-z0-9_-]{20,}",  # GitLab
            r"\bxox[abposr]-[A-Za-z0-9-]{10,}",  # Slack
            r"\bsk-[A-Za-z0-9_-]{20,}",  # OpenAI-style API keys
            r"\bhf_[A-Za-z0-9]{30,}",  # Hugging Face
            r"-----BEGIN [A-Z0-9 ]*-----",  # PEM block (keys, certificates)
            r"[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]*:[^/\s@]+@",  # URL with user:password@
            r"(?i:password|passwd|pwd|secret|token|accountkey|sharedaccesskey|api_?key)\s*=",
        )
    )
)
_LONG_TOKEN = re.compile(r"[A-Za-z0-9+/=_-]{32,}")
_HEX = re.compile(r"[0-9a-fA-F]+")


def _entropy(text: str) -> float:
    """Shannon entropy in bits per character."""
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def looks_secret_value(value: str) -> bool:
    """Whether a value looks like a credential.

    JWTs, AWS access key ids, GitHub / GitLab / Slack / OpenAI / Hugging Face tokens, PEM blocks,
    URLs with ``user:password@``, ``password=``-style connection strings, and long random
    strings: a run of 32 or more base64/hex characters that is hexadecimal with letters and
    digits (so a 40-character commit id counts as secret, but not a ``sha256:`` digest), or
    mixes upper case, lower case and digits with at least 4 bits of entropy per character.
    Paths and UUIDs pass.
    """
    if _SECRET_VALUE.search(value):
        return True
    for match in _LONG_TOKEN.finditer(value):
        token = match.group()
        letters, digits = any(c.isalpha() for c in token), any(c.isdigit() for c in token)
        if _HEX.fullmatch(token) and letters and digits:
            if value[: match.start()].endswith(("sha256:", "sha512:")):
                continue  # a content digest (image@sha256:…) is public
            return True
        mixed = digits and any(c.isupper() for c in token) and any(c.islower() for c in token)
        if mixed and _entropy(token) >= 4.0:
            return True
    return False


def allowed_env_vars(environ: Mapping[str, str], patterns: tuple[str, ...]) -> dict[str, str]:
    """The variables matching an allow-list pattern whose name and value do not look secret."""
    chosen: dict[str, str] = {}
    for name in sorted(environ):
        if not any(fnmatchcase(name, pattern) for pattern in patterns):
            continue
        value = environ[name]
        if looks_secret_name(name) or looks_secret_value(value):
            logger.debug("environment variable %s looks secret: left out", name)
            continue
        if len(value) > MAX_ENV_VALUE_CHARS:
            value = value[:MAX_ENV_VALUE_CHARS] + "...(truncated)"
        chosen[name] = value
    return chosen


# --- packages ---------------------------------------------------------------------------------


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _name_and_version(dist: Any) -> tuple[str, str] | None:
    # Reading the two header lines is several times faster than dist.metadata (email parser).
    text = dist.read_text("METADATA") or dist.read_text("PKG-INFO") or ""
    name = version = None
    for line in text.splitlines():
        if not line:
            break  # end of the headers
        if line.startswith("Name:") and name is None:
            name = line[5:].strip()
        elif line.startswith("Version:") and version is None:
            version = line[8:].strip()
    return (name, version) if name and version else None


@functools.cache
def installed_packages() -> tuple[str, ...]:
    """Every installed distribution as ``name==version``, by name (computed once per process)."""
    from importlib import metadata

    found: dict[str, str] = {}
    for dist in metadata.distributions():
        try:
            pair = _name_and_version(dist)
        except (OSError, UnicodeDecodeError) as err:
            logger.debug("unreadable package metadata: %s", err)
            continue
        if pair is not None:
            found.setdefault(_normalize(pair[0]), pair[1])
    return tuple(f"{name}=={version}" for name, version in sorted(found.items()))


@functools.cache
def packages_hash() -> str:
    """``sha256:…`` of :func:`installed_packages`, one line each (computed once per process)."""
    digest = hashlib.sha256()
    for line in installed_packages():
        digest.update(line.encode("utf-8") + b"\n")
    return "sha256:" + digest.hexdigest()


def bounded_packages(packages: tuple[str, ...], limit: int) -> list[str]:
    """At most ``limit`` entries; when cut, the last says how many more there are."""
    if len(packages) <= limit:
        return list(packages)
    kept = max(limit - 1, 0)
    return [*packages[:kept], f"...(+{len(packages) - kept} more)"]


@functools.cache
def _os_description() -> str:
    return platform.platform()


@harmless(None)
def capture_environment(
    config: EmitterConfig,
    pod: PodInfo | None = None,
    *,
    environ: Mapping[str, str] | None = None,
) -> dict[str, Any] | None:
    """The ``pedigree_environment`` facet (``environ`` defaults to ``os.environ``)."""
    env = os.environ if environ is None else environ
    try:
        host: str | None = socket.gethostname() or None
    except OSError:
        host = None
    packages = installed_packages()
    return facet(
        "pedigree_environment",
        host=host,
        os=_os_description(),
        pythonVersion=platform.python_version(),
        packagesHash=packages_hash(),
        packages=bounded_packages(packages, config.max_packages),
        envVars=allowed_env_vars(env, tuple(config.env_allowlist)) or None,
        kubernetes=(pod.placement() or None) if pod is not None else None,
    )
