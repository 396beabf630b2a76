"""mambalign's Python client: `Client(addr)` for runs and adapters; the generated messages and stubs
are `mambalign.v1.<file>_pb2` / `_pb2_grpc` (made from proto/ by scripts/gen-python-client.sh)."""

from mambalign_client.client import TERMINAL, Client, DownloadError

__all__ = ["Client", "DownloadError", "TERMINAL"]
