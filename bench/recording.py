"""A run's results directory while the run works: the manifest, the records, the events,
and what a resumed run keeps of the one it completes.

Records are appended as they finish and the manifest is rewritten as cells change, so a
crash at any point leaves a readable partial run. Every write goes through one lock: the
cells are measured on several threads.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import __version__
from bench.burst import InvokeOutcome
from bench.classify import classify_all, completeness, tail_report
from bench.matrix import Cell, Matrix
from bench.naming import function_name, run_suffix
from bench.regions import TargetSet
from bench.results import (
    RunWriter,
    new_manifest,
    new_run_id,
    parse_timestamp,
    utc_timestamp,
)


@dataclass
class Prior:
    """What a killed run left: its manifest and every record it wrote."""

    manifest: dict[str, Any]
    records: list[dict[str, Any]]

    def is_complete(self, cell_id: str) -> bool:
        return bool(self.manifest["cells"].get(cell_id, {}).get("status") == "complete")


def cost_section(estimate: Any) -> dict[str, Any]:
    return {
        "estimate_usd": round(estimate.expected_usd, 6),
        "worst_case_usd": round(estimate.worst_case_usd, 6),
        "actual_usd": None,
        "price_table": estimate.price_table,
    }


def error_counts(records: list[dict[str, Any]]) -> dict[str, Any]:
    """What a cell's failed invocations were: how many failed at init and at invoke, and
    how many of each error type (docs/results-format.md, cells.*.errors)."""
    failed = [r for r in records if r["status"] in ("error", "timeout")]
    by_type: dict[str, int] = {}
    for record in failed:
        kind = str(record.get("error_type") or record["status"])
        by_type[kind] = by_type.get(kind, 0) + 1
    return {
        "invocations": len(records),
        "failed": len(failed),
        "init": sum(r.get("error_phase") == "init" for r in failed),
        "invoke": sum(r.get("error_phase") != "init" for r in failed),
        "by_type": dict(sorted(by_type.items())),
    }


class Recorder:
    """Owns the run directory's writer, the manifest and the records while a run works."""

    def __init__(self, results_root: Path, target: TargetSet) -> None:
        self.results_root = Path(results_root)
        self.target = target
        self.lock = threading.RLock()
        self.records: list[dict[str, Any]] = []
        self.writer: RunWriter | None = None
        self.manifest: dict[str, Any] = {}
        self.run_id = ""
        self.run_rand = ""
        # client_send_ns is measured from here; REPORT lines are searched from started_ms.
        self.run_start_ns = time.perf_counter_ns()
        self.started_ms = int(time.time() * 1000)
        self.disagreements = 0

    # ----------------------------------------------------------------- opening

    def open_new(self, matrix: Matrix, estimate: Any) -> None:
        run_id = new_run_id(matrix.name)
        self.writer = RunWriter.create(self.results_root, run_id)
        self.manifest = dict(
            new_manifest(
                run_id=run_id,
                tool_version=__version__,
                matrix=matrix.dump_as_given(),
                target=self.target.describe(),
                started=utc_timestamp(),
                cost=cost_section(estimate),
            )
        )
        if matrix.clones():
            self.manifest["clones"] = matrix.clones()
        self._named(run_id)

    def resume(self, prior: Prior) -> None:
        """Reopen the killed run: complete cells and their records stay, the rest is
        measured again."""
        run_id = str(prior.manifest["run_id"])
        self.writer = RunWriter.open_existing(self.results_root, run_id)
        self.manifest = prior.manifest
        self.manifest.update(status="running", finished=None)
        cells = self.manifest["cells"]
        done = {cid for cid in cells if prior.is_complete(cid)}
        for cid, cell in cells.items():
            if cid not in done:  # failed cells get another chance
                cell.update(status="pending", error=None)
        self.records = [r for r in prior.records if r["cell"] in done]
        # client_send_ns stays relative to the original start, not to this process's.
        started = parse_timestamp(str(self.manifest["started"]))
        elapsed_ns = int((datetime.now(UTC) - started).total_seconds() * 1e9)
        self.run_start_ns = time.perf_counter_ns() - elapsed_ns
        # The killed run's REPORT lines are older than this process: search from its start.
        self.started_ms = int(started.timestamp() * 1000)
        self.writer.rewrite_invocations(self.records)
        self._named(run_id)
        self.event("warning", f"resumed; {len(done)} complete cell(s) kept")

    def _named(self, run_id: str) -> None:
        self.run_id = run_id
        self.run_rand = run_suffix(run_id)

    def _snapstart_emulated(self, cell: Cell) -> bool | None:
        """False where the target says it does not restore snapshots (the cell is then
        marked, and warned about once); None where it says nothing (AWS) or no SnapStart."""
        target = self.target.by_region().get(self.target.region_of(cell))
        local = (target.local_info if target is not None else None) or {}
        said = local.get("snapstart") if cell.snapstart == "on" else None
        if not isinstance(said, dict):
            return None
        if not said.get("emulated"):
            self.event("warning", f"SnapStart is not emulated on this host: {said.get('reason')}",
                       cell.id)  # fmt: skip
        return bool(said.get("emulated"))

    def describe_cells(self, cells: list[Cell], artifacts: dict[str, Any]) -> None:
        """Each cell's coordinates, function name and package in the manifest."""
        for index, cell in enumerate(cells):
            artifact = artifacts[cell.id]
            files = artifact.files if isinstance(artifact.files, int) else len(artifact.files)
            entry = self.manifest["cells"].setdefault(cell.id, {"status": "pending", "error": None})
            entry.update(
                runtime=cell.runtime,
                memory_mb=cell.memory_mb,
                architecture=cell.architecture,
                package_mb=cell.package_mb,
                package_kind=cell.package_kind,
                provisioned=cell.provisioned,
                snapstart=cell.snapstart,
                function=cell.function,
                region=cell.region or self.target.region,
                snapstart_emulated=self._snapstart_emulated(cell),
                function_name=function_name(self.target.stage, self.run_rand, index),
                artifact={
                    "sha256": artifact.sha256,
                    "zipped_bytes": artifact.zipped_bytes,
                    "unzipped_bytes": artifact.unzipped_bytes,
                    "files": files,
                    "built_for": getattr(artifact, "built_for", None),
                    "requirements_resolved": getattr(artifact, "requirements_resolved", None),
                },
            )
        self.save_manifest()

    # ----------------------------------------------------------------- while running

    def _writer(self) -> RunWriter:
        assert self.writer is not None, "the run directory is not open"
        return self.writer

    def event(self, kind: str, detail: str, cell: str | None = None) -> None:
        if self.writer is not None:
            with self.lock:
                self.writer.append_event(kind, detail, cell=cell)

    def save_manifest(self) -> None:
        with self.lock:
            self.manifest["target"] = self.target.describe()
            self._writer().write_manifest(self.manifest)

    def cell(self, cell_id: str) -> dict[str, Any]:
        return dict(self.manifest["cells"][cell_id])

    def function_names(self) -> list[str]:
        return [c["function_name"] for c in self.manifest.get("cells", {}).values()]

    def note_cell(self, cell_id: str, **fields: Any) -> None:
        """Add facts to a cell's manifest entry (e.g. its function_url)."""
        with self.lock:
            self.manifest["cells"][cell_id].update(fields)
            self.save_manifest()

    def set_cell(self, cell_id: str, status: str, error: str | None = None) -> None:
        from bench.quality import verdict

        with self.lock:
            mine = [r for r in self.records if r["cell"] == cell_id]
            contention = (r.get("contention") for r in mine)
            self.manifest["cells"][cell_id].update(
                status=status, error=error, quality=verdict(contention), errors=error_counts(mine)
            )
            self.save_manifest()
        if status == "failed":
            self.event("cell_failed", error or "failed", cell_id)

    def append(self, record: dict[str, Any], outcome: InvokeOutcome) -> None:
        found = tail_report(outcome)
        with self.lock:
            writer = self._writer()
            self.records.append(record)
            writer.append_invocation(record)
            if found is not None:
                writer.append_report_line("tail", outcome.request_id or "-", found[1])
            if outcome.status == "throttled":
                writer.append_event(
                    "throttle", f"{record['phase']} invoke throttled", cell=record["cell"]
                )

    def records_of(self, cell_id: str) -> list[dict[str, Any]]:
        with self.lock:
            return [r for r in self.records if r["cell"] == cell_id]

    def report_line(self, source: str, request_id: str, raw: str) -> None:
        with self.lock:
            self._writer().append_report_line(source, request_id, raw)

    # ----------------------------------------------------------------- the end

    def mark_stopped(self, why: str, status: str = "partial") -> None:
        """The run broke off: say so, and leave the manifest readable as `status`
        (partial, or aborted when it was asked to stop)."""
        self.event("warning", f"run stopped by {why}")
        self.manifest.update(status=status, finished=utc_timestamp())
        self.save_manifest()

    def finish(self, *, stopped: bool, proactive_threshold_ms: float) -> str:
        """Classify the records, count completeness, price them, write the final manifest;
        return the run's status."""
        from bench.cost import actual_cost

        with self.lock:
            start_types = classify_all(self.records, proactive_threshold_ms)
            counts = completeness(self.records, self.disagreements)
            self._writer().rewrite_invocations(self.records)
            cells_ok = all(c["status"] == "complete" for c in self.manifest["cells"].values())
            logs_ok = counts["cloudwatch"]["matched"] == counts["cloudwatch"]["expected"]
            status = "aborted" if stopped else ("complete" if cells_ok and logs_ok else "partial")
            self.target.refresh_local_info()
            self.manifest.update(
                completeness=counts,
                start_types=start_types,
                status=status,
                finished=utc_timestamp(),
            )
            self.manifest["cost"]["actual_usd"] = round(actual_cost(self.records), 6)
            self.save_manifest()
        return status

    def close(self) -> Path:
        writer = self._writer()
        writer.close()
        return Path(writer.path)
