import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from mambalign.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GetWorkerRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class WorkerStatus(_message.Message):
    __slots__ = ("worker_id", "busy", "job_id", "run_id", "stage", "step", "total_steps", "jobs_completed", "started_at")
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    BUSY_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    TOTAL_STEPS_FIELD_NUMBER: _ClassVar[int]
    JOBS_COMPLETED_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    worker_id: str
    busy: bool
    job_id: str
    run_id: str
    stage: _common_pb2.Stage
    step: int
    total_steps: int
    jobs_completed: int
    started_at: _timestamp_pb2.Timestamp
    def __init__(self, worker_id: _Optional[str] = ..., busy: _Optional[bool] = ..., job_id: _Optional[str] = ..., run_id: _Optional[str] = ..., stage: _Optional[_Union[_common_pb2.Stage, str]] = ..., step: _Optional[int] = ..., total_steps: _Optional[int] = ..., jobs_completed: _Optional[int] = ..., started_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetWorkerResponse(_message.Message):
    __slots__ = ("worker",)
    WORKER_FIELD_NUMBER: _ClassVar[int]
    worker: WorkerStatus
    def __init__(self, worker: _Optional[_Union[WorkerStatus, _Mapping]] = ...) -> None: ...

class ListCheckpointsRequest(_message.Message):
    __slots__ = ("run_id", "stage")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    stage: _common_pb2.Stage
    def __init__(self, run_id: _Optional[str] = ..., stage: _Optional[_Union[_common_pb2.Stage, str]] = ...) -> None: ...

class Checkpoint(_message.Message):
    __slots__ = ("step", "uri", "manifest_sha256")
    STEP_FIELD_NUMBER: _ClassVar[int]
    URI_FIELD_NUMBER: _ClassVar[int]
    MANIFEST_SHA256_FIELD_NUMBER: _ClassVar[int]
    step: int
    uri: str
    manifest_sha256: str
    def __init__(self, step: _Optional[int] = ..., uri: _Optional[str] = ..., manifest_sha256: _Optional[str] = ...) -> None: ...

class ListCheckpointsResponse(_message.Message):
    __slots__ = ("checkpoints",)
    CHECKPOINTS_FIELD_NUMBER: _ClassVar[int]
    checkpoints: _containers.RepeatedCompositeFieldContainer[Checkpoint]
    def __init__(self, checkpoints: _Optional[_Iterable[_Union[Checkpoint, _Mapping]]] = ...) -> None: ...
