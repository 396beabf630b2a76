"""A thin helper over the generated stubs (`mambalign.v1.*_pb2_grpc`) for the things an ML engineer
scripts: start a run from a recipe file, watch its events until it ends, fetch a registry version's
files. Everything else is one call away on the stubs (`client.pipeline`, `client.registry`, ...).
Errors are the API's: `grpc.RpcError` with the status code and the server's message."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

import grpc

from mambalign.v1 import (
    datasets_pb2_grpc,
    evaluator_pb2_grpc,
    pipeline_pb2,
    pipeline_pb2_grpc,
    registry_pb2,
    registry_pb2_grpc,
    trainer_pb2_grpc,
)

# The server refuses larger recipes (StartRunRequest.recipe_yaml); checked here to say which file.
MAX_RECIPE_BYTES = 256 * 1024
TERMINAL = frozenset(
    {pipeline_pb2.RUN_STATUS_SUCCEEDED, pipeline_pb2.RUN_STATUS_FAILED, pipeline_pb2.RUN_STATUS_CANCELLED}
)


class DownloadError(Exception):
    """A downloaded file did not match the version's manifest, or named a path outside the directory."""


def config_dir() -> Path:
    """The user's mambalign config directory ($XDG_CONFIG_HOME/mambalign, else ~/.config/mambalign)."""
    xdg = os.environ.get("XDG_CONFIG_HOME")
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".config"
    return base / "mambalign"


def default_token() -> str | None:
    """`$MAMBALIGN_TOKEN`, else the local token `mambalign up` wrote to the config directory."""
    token = os.environ.get("MAMBALIGN_TOKEN")
    if token:
        return token
    try:
        return (config_dir() / "token").read_text(encoding="utf-8").strip() or None
    except FileNotFoundError:
        return None


class _BearerToken(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):
    """Adds `authorization: Bearer <token>` to every call (on TLS and loopback plaintext alike)."""

    def __init__(self, token: str):
        self._header = ("authorization", f"Bearer {token}")

    def _details(self, details):
        metadata = [*(details.metadata or []), self._header]
        return details._replace(metadata=metadata) if hasattr(details, "_replace") else _CallDetails(details, metadata)

    def intercept_unary_unary(self, continuation, client_call_details, request):
        return continuation(self._details(client_call_details), request)

    def intercept_unary_stream(self, continuation, client_call_details, request):
        return continuation(self._details(client_call_details), request)


class _CallDetails(grpc.ClientCallDetails):
    def __init__(self, d, metadata):
        self.method, self.timeout, self.metadata = d.method, d.timeout, metadata
        self.credentials, self.wait_for_ready, self.compression = d.credentials, d.wait_for_ready, d.compression


class Client:
    """Connection to a mambalign control plane (`mambalign up`, or the chart's pipeline Service).

    `addr` is host:port; default `$MAMBALIGN_ADDR`. `token` is sent as a bearer token on every call;
    default `$MAMBALIGN_TOKEN`, else the local token of `mambalign up` (~/.config/mambalign/token).
    `ca` (PEM bytes, or a file path; default `$MAMBALIGN_CA`) turns on TLS verified against that CA;
    `credentials` (e.g. `grpc.ssl_channel_credentials()`) gives TLS settings outright. Plaintext
    otherwise: only for a loopback address. `timeout` bounds each unary call, not streams."""

    def __init__(
        self,
        addr: str | None = None,
        *,
        token: str | None = None,
        ca: bytes | str | os.PathLike[str] | None = None,
        credentials: grpc.ChannelCredentials | None = None,
        timeout: float = 30.0,
    ):
        addr = addr or os.environ.get("MAMBALIGN_ADDR")
        if not addr:
            raise ValueError("no address: pass Client('host:port') or set MAMBALIGN_ADDR")
        self.addr = addr
        self.timeout = timeout
        ca = ca if ca is not None else os.environ.get("MAMBALIGN_CA") or None
        if credentials is None and ca is not None:
            pem = ca if isinstance(ca, bytes) else Path(ca).read_bytes()
            credentials = grpc.ssl_channel_credentials(root_certificates=pem)
        channel = grpc.secure_channel(addr, credentials) if credentials else grpc.insecure_channel(addr)
        token = token or default_token()
        self.channel = grpc.intercept_channel(channel, _BearerToken(token)) if token else channel
        self._raw_channel = channel
        self.pipeline = pipeline_pb2_grpc.PipelineServiceStub(self.channel)
        self.registry = registry_pb2_grpc.RegistryServiceStub(self.channel)
        self.datasets = datasets_pb2_grpc.DatasetServiceStub(self.channel)
        self.trainer = trainer_pb2_grpc.TrainerServiceStub(self.channel)
        self.evaluator = evaluator_pb2_grpc.EvaluatorServiceStub(self.channel)

    def close(self) -> None:
        self._raw_channel.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # --- runs -----------------------------------------------------------------------------------

    def start_run(self, recipe: str | os.PathLike[str], *, request_id: str | None = None) -> pipeline_pb2.Run:
        """Starts a run of the recipe file as written. Local paths in it are read by the control plane,
        so give them absolute (or relative to where the control plane runs). `request_id` makes a retry
        return the same run instead of starting a second; default: a fresh one."""
        path = Path(recipe)
        size = path.stat().st_size
        if size > MAX_RECIPE_BYTES:
            raise ValueError(f"{path}: recipe is {size} bytes; at most {MAX_RECIPE_BYTES} are accepted")
        req = pipeline_pb2.StartRunRequest(recipe_yaml=path.read_text(encoding="utf-8"), request_id=request_id or str(uuid.uuid4()))
        return self.pipeline.StartRun(req, timeout=self.timeout).run

    def get_run(self, run_id: str) -> pipeline_pb2.Run:
        return self.pipeline.GetRun(pipeline_pb2.GetRunRequest(id=run_id), timeout=self.timeout).run

    def cancel_run(self, run_id: str) -> pipeline_pb2.Run:
        return self.pipeline.CancelRun(pipeline_pb2.CancelRunRequest(id=run_id), timeout=self.timeout).run

    def watch(self, run_id: str, *, from_seq: int = 0, timeout: float | None = None) -> Iterator[pipeline_pb2.WatchRunResponse]:
        """The run's events from the start (or from `from_seq`), each with its `seq`; responses after a
        stage transition carry a `run` snapshot. Ends after the run's end event; with `timeout` (seconds
        for the whole watch), raises DEADLINE_EXCEEDED if the run has not ended by then."""
        yield from self.pipeline.WatchRun(pipeline_pb2.WatchRunRequest(id=run_id, from_seq=from_seq), timeout=timeout)

    def wait(self, run_id: str, *, timeout: float | None = None) -> pipeline_pb2.Run:
        """Watches the run until it ends (or `timeout` seconds pass) and returns its final state."""
        for _ in self.watch(run_id, timeout=timeout):
            pass
        return self.get_run(run_id)

    # --- registry -------------------------------------------------------------------------------

    def download_version(self, version: str, dest: str | os.PathLike[str]) -> list[Path]:
        """Writes a registry version's files (what `mambalign adapters export` writes: a PEFT adapter
        directory or a model directory) into `dest`, checking each file's size and sha256 against the
        manifest. `version` is name/vN, name@alias or name (its latest). Returns the files written."""
        root = Path(dest).resolve()
        root.mkdir(parents=True, exist_ok=True)
        written: list[Path] = []
        current: _FileSink | None = None
        try:
            for chunk in self.registry.DownloadVersion(registry_pb2.DownloadVersionRequest(id=version)):
                if current is None or chunk.path != current.name:
                    if current is not None:
                        written.append(current.finish())
                    current = _FileSink(root, chunk.path, chunk.size, chunk.sha256)
                current.write(chunk.data)
            if current is not None:
                written.append(current.finish())
        except BaseException:
            if current is not None:
                current.discard()  # a stream cut part-way leaves no partial file behind
            raise
        return written


class _FileSink:
    """One downloaded file: written to a temporary name, renamed once size and sha256 match."""

    def __init__(self, root: Path, name: str, size: int, sha256: str):
        rel = PurePosixPath(name)
        if not name or rel.is_absolute() or ".." in rel.parts:
            raise DownloadError(f"server sent an unsafe file path {name[:200]!r}")
        self.name, self.size, self.sha256 = name, size, sha256
        self.path = root.joinpath(*rel.parts)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = self.path.with_name(self.path.name + ".part")
        self.file = self.tmp.open("wb")
        self.digest = hashlib.sha256()
        self.written = 0

    def write(self, data: bytes) -> None:
        self.file.write(data)
        self.digest.update(data)
        self.written += len(data)

    def discard(self) -> None:
        self.file.close()
        self.tmp.unlink(missing_ok=True)

    def finish(self) -> Path:
        self.file.close()
        if self.written != self.size or self.digest.hexdigest() != self.sha256:
            self.discard()
            raise DownloadError(
                f"{self.name}: got {self.written} bytes sha256 {self.digest.hexdigest()}, manifest says {self.size} bytes sha256 {self.sha256}"
            )
        self.tmp.replace(self.path)
        return self.path
