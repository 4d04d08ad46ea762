"""What resuming a stopped run needs beyond its records: the command that resumes it,
and which kept cells must be measured again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.recording import Prior


def resume_command(options: Any, run_id: str) -> str:
    """The command that completes a run where it stopped: its matrix is in its manifest,
    the flags that chose where it ran and wrote are repeated."""
    region = options.region
    regions = [region] if isinstance(region, str) else list(region or [])
    results = options.results_root if options.results_root != Path("results") else None
    flags = [("--results", results), ("--stage", options.stage),
             ("--profile", options.profile), ("--endpoint-url", options.endpoint_url)]  # fmt: skip
    flags += [("--region", name) for name in regions]
    extra = "".join(f" {flag} {value}" for flag, value in flags if value)
    return f"bench run --resume {run_id}{extra}"


def recheck_kept(prior: Prior, control_planes: list[Any], stage: str) -> list[str]:
    """A kept cell whose REPORT lines CloudWatch never gave, and can no longer give (its
    log group went with the stopped run's teardown, or with its local endpoint), is
    marked pending in `prior` so it is measured again: a resumed run never ends with
    records it cannot complete. Returns what to tell the user."""
    from bench.classify import expects_report
    from bench.collect import existing_groups
    from bench.naming import log_group_of, run_suffix

    run_rand = run_suffix(str(prior.manifest["run_id"]))
    groups: set[str] = set()
    for cp in control_planes:
        groups |= existing_groups(cp, stage, run_rand)
    lost = []
    for cell_id, entry in prior.manifest["cells"].items():
        if entry.get("status") != "complete":
            continue
        wanting = [
            r for r in prior.records
            if r["cell"] == cell_id and expects_report(r)
            and "cloudwatch" not in r["report_sources"]
        ]  # fmt: skip
        if wanting and log_group_of(entry["function_name"]) not in groups:
            entry["status"] = "pending"  # so the resumed recorder drops its records
            lost.append(cell_id)
    if not lost:
        return []
    return [
        f"measuring {len(lost)} kept cell(s) again: their CloudWatch REPORT lines went with "
        "the stopped run's log groups"
    ]
