"""Regenerates the Python gRPC stubs from the .proto files.

The stubs are committed so that no build step stands between a clone and a running service;
tests/test_proto_stubs.py regenerates them into a temporary folder and fails on any drift.
Run it after editing a .proto: ``python protos/generate.py``.
"""

import argparse
import sys
from pathlib import Path

from grpc_tools import protoc

PROTO_ROOT = Path(__file__).resolve().parent


def proto_files() -> list[Path]:
    """Every .proto of the contract, in a stable order."""
    return sorted(PROTO_ROOT.glob("hearth/**/*.proto"))


def generate(out_dir: Path) -> None:
    """Writes ``*_pb2.py``, ``*_pb2.pyi`` and ``*_pb2_grpc.py`` for every proto into out_dir."""
    out_dir.mkdir(parents=True, exist_ok=True)
    include = Path(protoc.__file__).parent / "_proto"
    for proto in proto_files():
        args = [
            "grpc_tools.protoc",
            f"-I{PROTO_ROOT}",
            f"-I{include}",
            f"--python_out={out_dir}",
            f"--pyi_out={out_dir}",
            f"--grpc_python_out={out_dir}",
            str(proto.relative_to(PROTO_ROOT)),
        ]
        if protoc.main(args) != 0:
            raise SystemExit(f"protoc failed on {proto}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=PROTO_ROOT, help="where to write the stubs")
    generate(parser.parse_args().out)


if __name__ == "__main__":
    sys.exit(main())
