"""Published versions and aliases of a function, as Lambda keeps them.

PublishVersion freezes the function's current configuration and code as version "1", "2",
... (never reused, even after a delete). A version has its own RevisionId, so its sandboxes
are never those of $LATEST: every new version starts cold, which is how a harness forces
cold starts of a published version. An alias names one version. A qualifier is "$LATEST",
a version number or an alias name; `resolve` turns it into the version it runs.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from bench.emulator.errors import AwsError, invalid_param, not_found

if TYPE_CHECKING:
    from bench.emulator.functions import Config, Function

LATEST = "$LATEST"
ALIAS_NAME = r"(?!^[0-9]+$)([a-zA-Z0-9-_]+)"


@dataclass
class Version:
    number: str
    config: Config
    description: str
    state: str = "Pending"  # Pending until ready (a SnapStart snapshot takes longer)
    optimization: str = "Off"  # SnapStart OptimizationStatus


@dataclass
class Alias:
    name: str
    version: str
    description: str
    revision_id: str = field(default_factory=lambda: str(uuid.uuid4()))


def knows(fn: Function, qualifier: str | None) -> bool:
    return qualifier in (None, LATEST) or qualifier in fn.versions or qualifier in fn.aliases


def resolve(fn: Function, qualifier: str | None, arn: str) -> str:
    """The version a qualifier runs: "$LATEST" or a number; 404 for one that is unknown."""
    if qualifier in (None, LATEST):
        return LATEST
    if qualifier in fn.versions:
        return qualifier
    alias = fn.aliases.get(qualifier)
    if alias is None:
        raise not_found(arn)
    return alias.version


def publish(fn: Function, description: str, code_sha256: str | None) -> tuple[Version, bool]:
    """(the version, whether it is new). Publishing what the newest version already is
    returns that version, as Lambda does; a CodeSha256 that is not the current code's is
    refused (the code changed since the caller looked)."""
    cfg = fn.latest
    if code_sha256 is not None and code_sha256 != cfg.code.sha256_b64:
        raise invalid_param(
            f"CodeSHA256 ({code_sha256}) is different from current CodeSHA256 in $LATEST "
            f"({cfg.code.sha256_b64}). Please try again with the CodeSHA256 in $LATEST."
        )
    if fn.versions:
        newest = fn.versions[str(max(int(n) for n in fn.versions))]
        if _same(newest.config, cfg):
            return newest, False
    fn.published += 1
    number = str(fn.published)
    frozen = replace(cfg, revision_id=str(uuid.uuid4()))
    version = Version(number=number, config=frozen, description=description)
    fn.versions[number] = version
    return version, True


def _same(a: Config, b: Config) -> bool:
    """Two configurations that would run identically (revision and timestamp aside)."""
    return replace(a, revision_id="", last_modified="") == replace(
        b, revision_id="", last_modified=""
    )


def delete_version(fn: Function, number: str, arn: str) -> None:
    if number == LATEST:
        raise invalid_param("$LATEST version cannot be deleted without deleting the function.")
    if number not in fn.versions:
        raise not_found(arn)
    users = sorted(a.name for a in fn.aliases.values() if a.version == number)
    if users:
        raise AwsError(
            "ResourceConflictException",
            f"Unable to delete version because the following aliases reference it: {users}",
            409,
        )
    del fn.versions[number]


def check_alias_target(fn: Function, version: object, arn: str) -> str:
    if not isinstance(version, str) or not version:
        raise invalid_param("FunctionVersion is required.")
    if version != LATEST and version not in fn.versions:
        raise not_found(arn)
    return version
