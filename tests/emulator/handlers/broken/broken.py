"""Test handler whose import fails, as a missing dependency would."""

import coldbench_module_that_does_not_exist  # noqa: F401


def handler(event, context):
    return {}
