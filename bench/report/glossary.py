"""What each column and fact of the run report means, shown as the header's tooltip and,
for the facts, beside them: a reader should never have to guess what a number counts."""

from __future__ import annotations

# The per-cell table's columns, in order: (header, class, explanation). A soft hyphen
# (\u00ad) lets a long one-word header break, so a column of one-digit counts stays narrow
# and the table, flag column included, fits a 1280 px window.
PER_CELL = (
    ("cell", "l", "runtime-memory-architecture-package: one function, measured on its own"),
    ("cold", "", "successful cold starts: an Init Duration, on the environment's first invoke"),
    ("warm", "", "invocations answered by an environment that had already served one"),
    ("pro\u00adactive", "", "environments initialised long before their first invocation "
                      "(proactive_threshold_ms): not counted as cold"),
    ("provi\u00adsioned", "", "first invocations of environments that provisioned concurrency "
                        "initialised ahead (no Init Duration)"),
    ("re\u00adstored", "", "first invocations of environments restored from a SnapStart snapshot "
                     "(a Restore Duration, no Init Duration)"),
    ("un\u00adknown", "", "invocations whose REPORT line never arrived, so their start type "
                          "is unknown"),
    ("failed", "", "invocations that returned an error or timed out"),
    ("throt\u00adtled", "", "invocations refused with TooManyRequestsException"),
    ("init p50", "", "median Init Duration of the cold starts, ms"),
    ("p50 95% CI", "", "95% confidence interval of that median, distribution-free; "
                       "needs 6 cold starts"),
    ("p90", "", "90th percentile of Init Duration, ms"),
    ("p99", "", "99th percentile of Init Duration, ms (the highest value below 100 samples)"),
    ("max", "", "slowest Init Duration measured, ms"),
    ("cold latency p50", "", "median time the client waited for a cold invocation, ms: "
                             "init, handler, queueing and network"),
    ("cold latency p99", "", "99th percentile of that wait, ms"),
    ("warm duration p50", "", "median REPORT Duration of warm invocations, ms"),
    ("max memory MB", "", "highest Max Memory Used of any invocation in the cell"),
    ("$ per million", "", "mean billed cost of this cell's invocations, per million "
                          "(us-east-1 first-tier prices, Init billed)"),
    ("flag", "l", "why this row needs care: unstable (few cold starts, wide spread) "
                  "or contended (the host was busy beyond its reserve)"),
)  # fmt: skip

# Facts on the report's first screen that are not self-explanatory.
FACTS = {
    "oversubscription": "moments when the sandboxes asked for more CPU than the host has; "
                        "the peak CPU share is the most CPUs' worth they wanted at once "
                        "(above the host's CPU count means they waited for each other)",
    "admission": "the local target starts an init or an invocation only when the host has "
                 "the CPU for it; the wait is recorded per invocation as queued_ms, outside "
                 "Init Duration and Duration",
}  # fmt: skip
