"""AWS Lambda's published limits, in one place for the harness and the local target.

Facts about the platform only (docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits):
this module imports nothing from the harness, so the emulator may use it too.
"""

from __future__ import annotations

MIB = 1 << 20
# Lambda counts megabytes as MiB: 50 MB is 52,428,800 bytes.
ZIPPED_MAX_BYTES = 50 * MIB  # a package uploaded directly, not via S3
UNZIPPED_MAX_BYTES = 250 * MIB
# CreateFunction's request body, which carries the zip base64-encoded in JSON: "Request must
# be smaller than 69905067 bytes for the CreateFunction operation".
CREATE_REQUEST_MAX_BYTES = 69_905_067
MEMORY_MIN_MB = 128
MEMORY_MAX_MB = 10_240
TIMEOUT_MAX_S = 900
INIT_LIMIT_S = 10.0  # the INIT phase of an on-demand function
