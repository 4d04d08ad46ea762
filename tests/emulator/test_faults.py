"""Fault injection: an emulator built with faults answers chosen calls with AWS errors for
a window, or late; the window and the spelling of `--fault` are checked."""

from __future__ import annotations

import pytest

from bench.emulator.errors import EmulatorConfigError
from bench.emulator.faults import Fault, FaultPlan, parse_fault


def test_a_timed_fault_opens_at_the_first_matching_request_and_closes_after_its_window() -> None:
    now = [100.0]
    plan = FaultPlan([Fault("CreateFunction", "InvalidParameterValueException", "m", for_s=40)],
                     clock=lambda: now[0])
    assert plan.error_for("GetFunction") is None
    now[0] = 130.0
    first = plan.error_for("CreateFunction")
    assert first is not None and (first.code, first.message, first.status) == (
        "InvalidParameterValueException", "m", 400)
    now[0] = 169.9
    assert plan.error_for("CreateFunction") is not None
    now[0] = 170.0
    assert plan.error_for("CreateFunction") is None
    assert plan.fired == {"CreateFunction:InvalidParameterValueException": 2}


def test_a_counted_delay_fault_delays_that_many_requests() -> None:
    plan = FaultPlan([parse_fault("CreateFunction:delay=2.5:1x")])
    assert plan.delay_for("CreateFunction") == 2.5
    assert plan.delay_for("CreateFunction") == 0.0
    assert plan.error_for("CreateFunction") is None


def test_fault_specs_parse_with_colons_in_the_message() -> None:
    fault = parse_fault("CreateFunction:InvalidParameterValueException:40s:KMS Message: ARN x")
    assert fault == Fault("CreateFunction", "InvalidParameterValueException",
                          "KMS Message: ARN x", for_s=40.0)


@pytest.mark.parametrize("spec", ["CreateFunction", "CreateFunction:X:forever",
                                  "CreateFunction:delay=soon:1x", "Create Function:X:2x"])
def test_bad_fault_specs_are_one_line_input_errors(spec: str) -> None:
    with pytest.raises(EmulatorConfigError) as info:
        parse_fault(spec)
    assert str(info.value).startswith(f"--fault {spec!r}:")
