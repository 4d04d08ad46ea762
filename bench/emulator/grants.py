"""What a function may call: its execution role's policy and the credentials it runs with.

Lambda gives every function temporary credentials of its execution role in the standard
environment variables (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN). The
local target does not model IAM over its API; a role's policy is given to it directly
(`Emulator.put_role_policy`, as the harness's IAM PutRolePolicy does on AWS). Only
lambda:InvokeFunction is honoured, with Allow and Deny statements whose resources are
function ARNs with IAM's `*` and `?` wildcards: a function whose role has such a policy
gets per-function session credentials whose only right is that, and the endpoint in
AWS_ENDPOINT_URL_LAMBDA (and, isolated, a listener of the endpoint inside its own network
namespace: bench.emulator.isolation). The endpoint's own credentials never reach a
sandbox; a function whose role has no policy gets no credentials and no endpoint.
"""

from __future__ import annotations

import re
import secrets
import string
import time
from dataclasses import dataclass
from typing import Any

from bench.emulator.auth import Credentials

INVOKE = "lambda:InvokeFunction"
SESSION_S = 12 * 3600  # Lambda's role sessions last hours; a sandbox lives at most that


def _pattern(resource: str) -> re.Pattern[str]:
    """IAM's wildcards: `*` any run of characters, `?` any one."""
    parts = [".*" if c == "*" else "." if c == "?" else re.escape(c) for c in resource]
    return re.compile("^" + "".join(parts) + "$")


def _listed(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else [str(v) for v in value or []]


@dataclass(frozen=True)
class InvokeScope:
    """The functions a role may invoke: allowed by some statement and denied by none."""

    allow: tuple[re.Pattern[str], ...]
    deny: tuple[re.Pattern[str], ...]

    @classmethod
    def from_policy(cls, document: dict[str, Any]) -> InvokeScope:
        allow: list[re.Pattern[str]] = []
        deny: list[re.Pattern[str]] = []
        for statement in _listed_statements(document):
            actions = _listed(statement.get("Action"))
            if INVOKE not in actions and "lambda:*" not in actions:
                continue
            target = allow if statement.get("Effect") == "Allow" else deny
            target.extend(_pattern(r) for r in _listed(statement.get("Resource")))
        return cls(tuple(allow), tuple(deny))

    def permits(self, function_arn: str) -> bool:
        # A qualified ARN (`:version`) is granted by the function's own ARN pattern too.
        arns = {function_arn, function_arn.rsplit(":", 1)[0]} if function_arn.count(":") > 6 else {
            function_arn
        }
        allowed = any(p.match(a) for p in self.allow for a in arns)
        return allowed and not any(p.match(a) for p in self.deny for a in arns)

    @property
    def empty(self) -> bool:
        return not self.allow


def _listed_statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    statements = document.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    return [s for s in statements if isinstance(s, dict)]


@dataclass(frozen=True)
class Session:
    credentials: Credentials
    token: str
    expires: float  # time.time()
    role_arn: str
    function: str
    scope: InvokeScope

    @property
    def principal(self) -> str:
        role = self.role_arn.rsplit("/", 1)[-1]
        account = self.role_arn.split(":")[4]
        return f"arn:aws:sts::{account}:assumed-role/{role}/{self.function}"


class Grants:
    """Role policies and the sessions minted from them (event-loop thread and callers)."""

    def __init__(self) -> None:
        self._scopes: dict[str, InvokeScope] = {}
        self._sessions: dict[str, Session] = {}  # by access key id
        self._minted: dict[tuple[str, str, str], Session] = {}  # (role, function, revision)

    def put_role_policy(self, role_arn: str, document: dict[str, Any]) -> None:
        self._scopes[role_arn] = InvokeScope.from_policy(document)

    def session_for(self, role_arn: str, function: str, revision: str) -> Session | None:
        """The credentials a revision of a function runs with; None: its role may call
        nothing here, so it gets none."""
        scope = self._scopes.get(role_arn)
        if scope is None or scope.empty:
            return None
        key = (role_arn, function, revision)
        found = self._minted.get(key)
        if found is not None and found.expires - time.time() > SESSION_S / 2:
            return found
        upper = string.ascii_uppercase + string.digits
        access = "ASIA" + "".join(secrets.choice(upper) for _ in range(16))
        session = Session(
            Credentials(access, secrets.token_urlsafe(30)),
            token=secrets.token_urlsafe(96),
            expires=time.time() + SESSION_S,
            role_arn=role_arn,
            function=function,
            scope=scope,
        )
        self._sessions[access] = session
        self._minted[key] = session
        return session

    def session(self, access_key_id: str) -> Session | None:
        return self._sessions.get(access_key_id)


_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/")


def access_key_of(authorization: str | None) -> str | None:
    match = _CREDENTIAL.search(authorization or "")
    return match.group(1) if match else None
