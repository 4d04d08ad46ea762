"""What the local target could not do, in one sentence shared by the terminal summary and
the report's banner, so both say it in the same words.

A local run differs from AWS where this machine could not do what Lambda does: CPU
limits off (every memory size gets the same CPU), a runtime run on another version,
sandboxes not isolated, other load on the host. A reader who sees 256 MB and 1024 MB
rows alike must be told why before reading the numbers.
"""

from __future__ import annotations

from typing import Any

LOCAL = "Local target: these numbers describe this machine (the embedded emulator), not AWS."


def local_disclosure(manifest: dict[str, Any], records: int | None = None) -> str | None:
    """The sentence for a local run; None for a run on AWS."""
    target = manifest.get("target") or {}
    if target.get("kind") != "local":
        return None
    local = target.get("local") or {}
    parts = [LOCAL]
    if local.get("cpu_limits") is False:
        parts.append("CPU limits were OFF: memory sizes did not change CPU.")
    substitutions = _substitutions(local)
    if substitutions:
        parts.append(f"Runtime substitutions: {'; '.join(substitutions)}.")
    contended = local.get("contended_invocations")
    if contended:
        of = f" of {records}" if records else ""
        parts.append(
            f"Contention: {contended}{of} invocations shared the host with load it could not "
            "prevent (cells flagged contended)."
        )
    isolation = local.get("isolation")
    if isinstance(isolation, dict) and not isolation.get("isolated"):
        parts.append(
            f"Sandboxes were NOT isolated from this machine ({isolation.get('reason')})."
        )
    snapstart = local.get("snapstart")
    cells = (manifest.get("cells") or {}).values()
    if isinstance(snapstart, dict) and not snapstart.get("emulated") and any(
        isinstance(c, dict) and c.get("snapstart") == "on" for c in cells
    ):
        why = snapstart.get("reason")
        parts.append(f"SnapStart restores were NOT emulated on this host: {why}.")
    return " ".join(parts)


def _substitutions(local: dict[str, Any]) -> list[str]:
    """`python3.12 ran on CPython 3.11.7`: the fact without the long reason (the report's
    facts card and the manifest keep the reason)."""
    out = []
    runtimes = local.get("runtimes") or {}
    for runtime, text in sorted((local.get("runtime_substitutions") or {}).items()):
        ran = runtimes.get(runtime) or {}
        if ran.get("runs_on"):
            out.append(f"{runtime} ran on {ran['runs_on']}")
        else:
            out.append(str(text).split(":")[0])
    return out
