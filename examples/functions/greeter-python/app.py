"""An example function: greets whoever the event names, using a package from PyPI."""

import os

import six

GREETING = os.environ.get("GREETING", "hello")


def handler(event, context):
    name = event.get("name", "world") if isinstance(event, dict) else "world"
    return {
        "greeting": f"{GREETING}, {name}",
        "received": event,
        "six": six.__version__,
        "text_type": six.text_type.__name__,
    }
