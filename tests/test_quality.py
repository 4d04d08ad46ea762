"""The per-cell measurement-quality verdict from the records' `contention`."""

from __future__ import annotations

from bench.quality import CONTENDED_SHARE, summary_text, verdict


def test_a_cell_is_contended_when_enough_of_its_invocations_were_touched() -> None:
    clean = [[]] * 9
    assert verdict([*clean, ["host-busy"]])["verdict"] == "contended"  # 1 of 10: the share
    assert CONTENDED_SHARE == 0.1
    quality = verdict([*clean * 2, ["host-busy", "run-queue"]])  # 1 of 19: a moment's load
    assert quality["verdict"] == "ok"
    assert quality["touched"] == 1 and quality["judged"] == 19
    assert quality["reasons"] == [
        "host busy beyond the reserve (1 of 19 invocations)",
        "run queue longer than the CPUs (1 of 19 invocations)",
    ]
    assert summary_text(quality) == ""


def test_records_the_target_said_nothing_about_are_not_judged() -> None:
    aws = verdict([None, None, None])
    assert aws == {"verdict": "ok", "reasons": [], "touched": 0, "judged": 0}
    mixed = verdict([None, ["cpu-limits-off"], ["cpu-limits-off"]])
    assert mixed["verdict"] == "contended" and mixed["judged"] == 2
    assert summary_text(mixed) == "contended: CPU limits off (2 of 2 invocations)"
