"""Asks a gRPC server's standard health service whether it is SERVING.

Usage: ``python -m serving_core.health_probe HOST:PORT [--service NAME] [--timeout SECONDS]``. The target may
name environment variables (``127.0.0.1:${HEARTH_TEXT_PORT}``) and the probe expands them itself, so an
exec-form HEALTHCHECK (no shell started every few seconds) still follows the port the service was given.

Containers run this as their HEALTHCHECK, every few seconds for the life of the service, so it imports only
grpcio and grpcio-health-checking (no torch: a probe that takes seconds of CPU to start would steal it from
the model). It exits 0 when the service reports SERVING and 1 otherwise (NOT_SERVING, unknown service name,
nothing listening, no answer in time); Docker reserves exit code 2, so every failure is 1.
"""

import argparse
import os
import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc


def check(target: str, service: str = "", timeout: float = 3.0) -> str:
    """The health status name the server reports for ``service`` ("" is the whole server).

    A server that cannot be reached or does not answer in time is reported as the gRPC status code's name
    (for example ``UNAVAILABLE``), so the caller always gets one word to print.
    """
    with grpc.insecure_channel(target) as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=service), timeout=timeout
            )
        except grpc.RpcError as error:
            return error.code().name
    return health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Exit 0 if a gRPC server's health service reports SERVING.")
    parser.add_argument("target", help="HOST:PORT of the gRPC server, e.g. 127.0.0.1:50051")
    parser.add_argument("--service", default="", help="service name to ask about (default: the whole server)")
    parser.add_argument("--timeout", type=float, default=3.0, help="seconds to wait for an answer")
    args = parser.parse_args(argv)
    target = os.path.expandvars(args.target)
    status = check(target, args.service, args.timeout)
    print(f"{target} {args.service or '(server)'}: {status}")
    return 0 if status == "SERVING" else 1


if __name__ == "__main__":
    sys.exit(main())
