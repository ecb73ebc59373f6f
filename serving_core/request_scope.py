"""One request's scope in a servicer: its JSON log line, and every error turned into its gRPC status.

Both model services wrap every RPC in ``request_scope``. A ``RequestError`` becomes its status with
``google.rpc.ErrorInfo`` (``abort_with``); any other exception is a bug: logged with its traceback and
answered INTERNAL naming the request id. However the call ends (answered, refused, cancelled by the
client), one ``"msg": "request"`` line reports the rpc, the id, the outcome (``ok`` or the status's name
in lower case), what the servicer reported along the way, and the total time. A routine RPC (the
gateway polls GetModelInfo every second) writes its line at DEBUG when it succeeds, so the polls do not
bury the requests; its failures still show at INFO.
"""

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import grpc

from serving_core.request_errors import RequestError, abort_with


@dataclass
class RequestScope:
    """What the request's log line will say; servicers fill it in with ``report``, never read replies from it."""

    rpc: str
    request_id: str = ""
    outcome: str = "ok"
    started: float = field(default_factory=time.perf_counter)
    _fields: dict[str, Any] = field(default_factory=dict)

    def report(self, **fields: Any) -> None:
        """Adds fields to the log line (sizes, timings, how the work ended)."""
        self._fields.update(fields)

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def line(self) -> dict[str, Any]:
        return {
            "rpc": self.rpc,
            "request_id": self.request_id,
            "outcome": self.outcome,
            **self._fields,
            "total_s": round(self.elapsed(), 4),
        }


@asynccontextmanager
async def request_scope(
    logger: logging.Logger, rpc: str, context: grpc.aio.ServicerContext, *, routine: bool = False
) -> AsyncIterator[RequestScope]:
    """Runs one RPC's body: refusals become their status, bugs INTERNAL, and the log line is written."""
    scope = RequestScope(rpc)
    try:
        yield scope
    except RequestError as error:
        scope.outcome = error.code.name.lower()
        await abort_with(context, error)
    except (asyncio.CancelledError, GeneratorExit):  # a streaming RPC cancelled while sending is closed, not cancelled
        if scope.outcome == "ok":
            scope.outcome = "cancelled"
        raise
    except Exception:
        scope.outcome = "internal"
        logger.exception("request failed", extra={"fields": {"request_id": scope.request_id}})
        await abort_with(context, RequestError(f"internal error (request id {scope.request_id or 'unknown'})"))
    finally:
        level = logging.DEBUG if routine and scope.outcome == "ok" else logging.INFO
        logger.log(level, "request", extra={"fields": scope.line()})
