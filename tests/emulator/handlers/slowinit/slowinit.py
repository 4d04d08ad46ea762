"""Test handler whose import outlasts the init phase limit."""

import time

time.sleep(30)


def handler(event, context):
    return {}
