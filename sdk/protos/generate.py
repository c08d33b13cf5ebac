"""Generate ``sdk/_proto/*_pb2*.py`` from ``sdk/protos/*.proto``: ``python sdk/protos/generate.py``.

Regenerates only when a .proto is newer than its output (or ``--force``), so bootstrap can call it every time.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

PROTO_DIR = Path(__file__).resolve().parent
OUT_DIR = PROTO_DIR.parent / "_proto"
_ABSOLUTE_IMPORT = re.compile(r"^import (\w+_pb2) as (\w+)$", re.MULTILINE)


def _stale(proto: Path) -> bool:
    outputs = [OUT_DIR / f"{proto.stem}_pb2.py", OUT_DIR / f"{proto.stem}_pb2_grpc.py"]
    return any(not out.exists() or out.stat().st_mtime < proto.stat().st_mtime for out in outputs)


def generate(force: bool = False) -> list[str]:
    from grpc_tools import protoc  # build-time tool; imported lazily so runtime code never needs it

    protos = sorted(PROTO_DIR.glob("*.proto"))
    todo = [p for p in protos if force or _stale(p)]
    if not todo:
        return []
    OUT_DIR.mkdir(exist_ok=True)
    include = str(Path(protoc.__file__).parent / "_proto")
    args = [
        "protoc",
        f"-I{PROTO_DIR}",
        f"-I{include}",
        f"--python_out={OUT_DIR}",
        f"--pyi_out={OUT_DIR}",
        f"--grpc_python_out={OUT_DIR}",
        *map(str, todo),
    ]
    if protoc.main(args) != 0:
        raise SystemExit(f"protoc failed on {', '.join(p.name for p in todo)}")
    # grpc_tools emits top-level imports ("import x_pb2"); make them package-relative.
    for out in OUT_DIR.glob("*_pb2*.py*"):
        text = out.read_text()
        fixed = _ABSOLUTE_IMPORT.sub(r"from . import \1 as \2", text)
        if fixed != text:
            out.write_text(fixed)
    return [p.name for p in todo]


if __name__ == "__main__":
    done = generate(force="--force" in sys.argv)
    if done:
        print(f"protos: generated {', '.join(done)}")
