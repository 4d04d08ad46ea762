"""Invoking through a Lambda function URL, measured as an HTTP client sees it.

`invoke_via: url` puts a function URL (AuthType AWS_IAM: no public endpoint) in front of
the function. Each request is signed with SigV4 for the service `lambda` before the clock
starts and sent on a connection opened before it, as the SDK path does; a cold round's
requests are released together. The latency runs from the release to the last byte of
the response. An HTTP client sees no function error type: a 502 is recorded as
`Url.502` with the body as its message; the REPORT line (from CloudWatch Logs) still
says what the platform saw.
"""

from __future__ import annotations

import http.client
import ssl
import threading
import time
from typing import Any
from urllib.parse import urlsplit

from bench.burst import CONTENTION_HEADER, QUEUED_HEADER, InvokeOutcome, _contention, _queued_ms

PARK_TIMEOUT_S = 120.0


class _Prepared:
    """One signed request on its own open connection."""

    def __init__(self, url: str, payload: bytes, credentials: Any, region: str, timeout_s: float):
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        request = AWSRequest(method="POST", url=url, data=payload,
                             headers={"Content-Type": "application/json"})  # fmt: skip
        SigV4Auth(credentials, "lambda", region).add_auth(request)
        parts = urlsplit(url)
        self.path = parts.path + (f"?{parts.query}" if parts.query else "")
        self.headers = dict(request.headers.items())
        self.payload = payload
        if parts.scheme == "https":
            self.conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                parts.hostname or "", parts.port, timeout=timeout_s,
                context=ssl.create_default_context(),
            )  # fmt: skip
        else:
            self.conn = http.client.HTTPConnection(parts.hostname or "", parts.port,
                                                   timeout=timeout_s)  # fmt: skip
        self.conn.connect()

    def send(self, run_start_ns: int) -> InvokeOutcome:
        start = time.perf_counter_ns()
        try:
            self.conn.request("POST", self.path, body=self.payload, headers=self.headers)
            response = self.conn.getresponse()
            body = response.read()
        except TimeoutError:
            latency = (time.perf_counter_ns() - start) / 1e6
            return InvokeOutcome(start - run_start_ns, latency, "timeout",
                                 error_type="Client.ReadTimeout")  # fmt: skip
        except (OSError, http.client.HTTPException) as exc:
            latency = (time.perf_counter_ns() - start) / 1e6
            return InvokeOutcome(start - run_start_ns, latency, "error",
                                 error_type=f"Client.{type(exc).__name__}",
                                 error_message=str(exc) or None)  # fmt: skip
        finally:
            self.conn.close()
        latency = (time.perf_counter_ns() - start) / 1e6
        headers = {k.lower(): v for k, v in response.getheaders()}
        status = "success"
        error_type = message = None
        if response.status == 429:
            status, error_type = "throttled", "TooManyRequestsException"
        elif response.status >= 400:
            status, error_type = "error", f"Url.{response.status}"
            message = body[:1000].decode("utf-8", "replace")
        return InvokeOutcome(
            client_send_ns=start - run_start_ns,
            client_latency_ms=latency,
            status=status,
            request_id=headers.get("x-amzn-requestid"),
            error_type=error_type,
            error_message=message,
            body=body,
            queued_ms=_queued_ms({QUEUED_HEADER: headers[QUEUED_HEADER]})
            if QUEUED_HEADER in headers else None,
            contention=_contention({CONTENTION_HEADER: headers[CONTENTION_HEADER]})
            if CONTENTION_HEADER in headers else None,
        )  # fmt: skip


class UrlInvoker:
    """Sends payloads to function URLs with the run's credentials."""

    def __init__(self, credentials: Any, region: str, timeout_s: float) -> None:
        self.credentials = credentials
        self.region = region
        self.timeout_s = timeout_s

    def once(self, url: str, payload: bytes, *, run_start_ns: int) -> InvokeOutcome:
        prepared = _Prepared(url, payload, self.credentials, self.region, self.timeout_s)
        outcome = prepared.send(run_start_ns)
        return outcome

    def burst(self, url: str, payloads: list[bytes], *, run_start_ns: int) -> list[InvokeOutcome]:
        """All at the same moment: every request signed and connected first, then released
        together; each outcome carries the release skew."""
        n = len(payloads)
        prepared = [_Prepared(url, p, self.credentials, self.region, self.timeout_s)
                    for p in payloads]  # fmt: skip
        gate = threading.Barrier(n + 1, timeout=PARK_TIMEOUT_S)
        outcomes: list[InvokeOutcome | None] = [None] * n

        def worker(i: int) -> None:
            gate.wait()
            outcomes[i] = prepared[i].send(run_start_ns)

        threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(n)]
        for thread in threads:
            thread.start()
        gate.wait()
        for thread in threads:
            thread.join()
        final = [o for o in outcomes if o is not None]
        sends = [o.client_send_ns for o in final]
        skew = (max(sends) - min(sends)) / 1e6 if sends else 0.0
        for outcome in final:
            outcome.launch_skew_ms = skew
        return final
