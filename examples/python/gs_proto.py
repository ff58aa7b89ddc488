"""gridsentinel's protobuf classes for the examples, generated from the repository's proto/ with protoc.

A consumer team would generate them once in its own build (protoc --python_out=...); the examples do it at start-up
into a temporary directory, removed at exit, so that they always match proto/ and nothing generated is committed.
Needs `protoc` (Debian: protobuf-compiler) and the protobuf runtime (Debian: python3-protobuf) of the same version.
"""
import atexit
import os
import shutil
import subprocess
import sys
import tempfile

DEFAULT_PROTO_DIR = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "proto"))
PROTO_FILES = ["gridsentinel/v1/telemetry.proto", "gridsentinel/v1/alert.proto"]


def load(proto_dir=None):
    """Generates the Python classes into a temporary directory and returns (telemetry_pb2, alert_pb2)."""
    proto_dir = proto_dir or DEFAULT_PROTO_DIR
    gen_dir = tempfile.mkdtemp(prefix="gs-proto-")
    atexit.register(shutil.rmtree, gen_dir, True)
    try:
        subprocess.run(["protoc", f"-I{proto_dir}", f"--python_out={gen_dir}", *PROTO_FILES], check=True)
    except FileNotFoundError:
        sys.exit("protoc not found: install protobuf-compiler (Debian) to generate the classes from proto/")
    except subprocess.CalledProcessError as e:
        sys.exit(f"protoc failed on {proto_dir}: {e}")
    sys.path.insert(0, gen_dir)
    from gridsentinel.v1 import alert_pb2, telemetry_pb2  # noqa: E402  (generated above)
    return telemetry_pb2, alert_pb2
