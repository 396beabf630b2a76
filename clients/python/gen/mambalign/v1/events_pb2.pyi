import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from mambalign.v1 import common_pb2 as _common_pb2
from mambalign.v1 import registry_pb2 as _registry_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class StageStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    STAGE_STATUS_UNSPECIFIED: _ClassVar[StageStatus]
    STAGE_STATUS_PENDING: _ClassVar[StageStatus]
    STAGE_STATUS_RUNNING: _ClassVar[StageStatus]
    STAGE_STATUS_SUCCEEDED: _ClassVar[StageStatus]
    STAGE_STATUS_FAILED: _ClassVar[StageStatus]
    STAGE_STATUS_CANCELLED: _ClassVar[StageStatus]
STAGE_STATUS_UNSPECIFIED: StageStatus
STAGE_STATUS_PENDING: StageStatus
STAGE_STATUS_RUNNING: StageStatus
STAGE_STATUS_SUCCEEDED: StageStatus
STAGE_STATUS_FAILED: StageStatus
STAGE_STATUS_CANCELLED: StageStatus

class RuntimeEvent(_message.Message):
    __slots__ = ("time", "started", "progress", "checkpoint_saved", "metrics", "artifact", "finished", "error")
    class Started(_message.Message):
        __slots__ = ("command", "total_steps", "start_step", "device", "versions")
        class VersionsEntry(_message.Message):
            __slots__ = ("key", "value")
            KEY_FIELD_NUMBER: _ClassVar[int]
            VALUE_FIELD_NUMBER: _ClassVar[int]
            key: str
            value: str
            def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
        COMMAND_FIELD_NUMBER: _ClassVar[int]
        TOTAL_STEPS_FIELD_NUMBER: _ClassVar[int]
        START_STEP_FIELD_NUMBER: _ClassVar[int]
        DEVICE_FIELD_NUMBER: _ClassVar[int]
        VERSIONS_FIELD_NUMBER: _ClassVar[int]
        command: str
        total_steps: int
        start_step: int
        device: str
        versions: _containers.ScalarMap[str, str]
        def __init__(self, command: _Optional[str] = ..., total_steps: _Optional[int] = ..., start_step: _Optional[int] = ..., device: _Optional[str] = ..., versions: _Optional[_Mapping[str, str]] = ...) -> None: ...
    class Progress(_message.Message):
        __slots__ = ("step", "total", "loss", "lr", "tokens_per_s", "grad_norm", "eta_s", "mfu", "gpu_mem_gib", "extra")
        class ExtraEntry(_message.Message):
            __slots__ = ("key", "value")
            KEY_FIELD_NUMBER: _ClassVar[int]
            VALUE_FIELD_NUMBER: _ClassVar[int]
            key: str
            value: float
            def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
        STEP_FIELD_NUMBER: _ClassVar[int]
        TOTAL_FIELD_NUMBER: _ClassVar[int]
        LOSS_FIELD_NUMBER: _ClassVar[int]
        LR_FIELD_NUMBER: _ClassVar[int]
        TOKENS_PER_S_FIELD_NUMBER: _ClassVar[int]
        GRAD_NORM_FIELD_NUMBER: _ClassVar[int]
        ETA_S_FIELD_NUMBER: _ClassVar[int]
        MFU_FIELD_NUMBER: _ClassVar[int]
        GPU_MEM_GIB_FIELD_NUMBER: _ClassVar[int]
        EXTRA_FIELD_NUMBER: _ClassVar[int]
        step: int
        total: int
        loss: float
        lr: float
        tokens_per_s: float
        grad_norm: float
        eta_s: float
        mfu: float
        gpu_mem_gib: float
        extra: _containers.ScalarMap[str, float]
        def __init__(self, step: _Optional[int] = ..., total: _Optional[int] = ..., loss: _Optional[float] = ..., lr: _Optional[float] = ..., tokens_per_s: _Optional[float] = ..., grad_norm: _Optional[float] = ..., eta_s: _Optional[float] = ..., mfu: _Optional[float] = ..., gpu_mem_gib: _Optional[float] = ..., extra: _Optional[_Mapping[str, float]] = ...) -> None: ...
    class CheckpointSaved(_message.Message):
        __slots__ = ("step", "dir", "reason")
        STEP_FIELD_NUMBER: _ClassVar[int]
        DIR_FIELD_NUMBER: _ClassVar[int]
        REASON_FIELD_NUMBER: _ClassVar[int]
        step: int
        dir: str
        reason: str
        def __init__(self, step: _Optional[int] = ..., dir: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...
    class MetricsReport(_message.Message):
        __slots__ = ("phase", "step", "values")
        class ValuesEntry(_message.Message):
            __slots__ = ("key", "value")
            KEY_FIELD_NUMBER: _ClassVar[int]
            VALUE_FIELD_NUMBER: _ClassVar[int]
            key: str
            value: float
            def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
        PHASE_FIELD_NUMBER: _ClassVar[int]
        STEP_FIELD_NUMBER: _ClassVar[int]
        VALUES_FIELD_NUMBER: _ClassVar[int]
        phase: str
        step: int
        values: _containers.ScalarMap[str, float]
        def __init__(self, phase: _Optional[str] = ..., step: _Optional[int] = ..., values: _Optional[_Mapping[str, float]] = ...) -> None: ...
    class Artifact(_message.Message):
        __slots__ = ("kind", "path")
        KIND_FIELD_NUMBER: _ClassVar[int]
        PATH_FIELD_NUMBER: _ClassVar[int]
        kind: str
        path: str
        def __init__(self, kind: _Optional[str] = ..., path: _Optional[str] = ...) -> None: ...
    class Finished(_message.Message):
        __slots__ = ("status", "step", "wall_s")
        STATUS_FIELD_NUMBER: _ClassVar[int]
        STEP_FIELD_NUMBER: _ClassVar[int]
        WALL_S_FIELD_NUMBER: _ClassVar[int]
        status: str
        step: int
        wall_s: float
        def __init__(self, status: _Optional[str] = ..., step: _Optional[int] = ..., wall_s: _Optional[float] = ...) -> None: ...
    class RuntimeError(_message.Message):
        __slots__ = ("message", "field", "retryable")
        MESSAGE_FIELD_NUMBER: _ClassVar[int]
        FIELD_FIELD_NUMBER: _ClassVar[int]
        RETRYABLE_FIELD_NUMBER: _ClassVar[int]
        message: str
        field: str
        retryable: bool
        def __init__(self, message: _Optional[str] = ..., field: _Optional[str] = ..., retryable: _Optional[bool] = ...) -> None: ...
    TIME_FIELD_NUMBER: _ClassVar[int]
    STARTED_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_SAVED_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    ARTIFACT_FIELD_NUMBER: _ClassVar[int]
    FINISHED_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    time: _timestamp_pb2.Timestamp
    started: RuntimeEvent.Started
    progress: RuntimeEvent.Progress
    checkpoint_saved: RuntimeEvent.CheckpointSaved
    metrics: RuntimeEvent.MetricsReport
    artifact: RuntimeEvent.Artifact
    finished: RuntimeEvent.Finished
    error: RuntimeEvent.RuntimeError
    def __init__(self, time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., started: _Optional[_Union[RuntimeEvent.Started, _Mapping]] = ..., progress: _Optional[_Union[RuntimeEvent.Progress, _Mapping]] = ..., checkpoint_saved: _Optional[_Union[RuntimeEvent.CheckpointSaved, _Mapping]] = ..., metrics: _Optional[_Union[RuntimeEvent.MetricsReport, _Mapping]] = ..., artifact: _Optional[_Union[RuntimeEvent.Artifact, _Mapping]] = ..., finished: _Optional[_Union[RuntimeEvent.Finished, _Mapping]] = ..., error: _Optional[_Union[RuntimeEvent.RuntimeError, _Mapping]] = ...) -> None: ...

class RunEvent(_message.Message):
    __slots__ = ("run_id", "stage", "job_id", "time", "runtime", "transition", "log")
    class StageTransition(_message.Message):
        __slots__ = ("status", "message", "output", "metrics", "output_version")
        class MetricsEntry(_message.Message):
            __slots__ = ("key", "value")
            KEY_FIELD_NUMBER: _ClassVar[int]
            VALUE_FIELD_NUMBER: _ClassVar[int]
            key: str
            value: float
            def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
        STATUS_FIELD_NUMBER: _ClassVar[int]
        MESSAGE_FIELD_NUMBER: _ClassVar[int]
        OUTPUT_FIELD_NUMBER: _ClassVar[int]
        METRICS_FIELD_NUMBER: _ClassVar[int]
        OUTPUT_VERSION_FIELD_NUMBER: _ClassVar[int]
        status: StageStatus
        message: str
        output: str
        metrics: _containers.ScalarMap[str, float]
        output_version: _registry_pb2.AdapterVersion
        def __init__(self, status: _Optional[_Union[StageStatus, str]] = ..., message: _Optional[str] = ..., output: _Optional[str] = ..., metrics: _Optional[_Mapping[str, float]] = ..., output_version: _Optional[_Union[_registry_pb2.AdapterVersion, _Mapping]] = ...) -> None: ...
    class LogLine(_message.Message):
        __slots__ = ("level", "message")
        LEVEL_FIELD_NUMBER: _ClassVar[int]
        MESSAGE_FIELD_NUMBER: _ClassVar[int]
        level: str
        message: str
        def __init__(self, level: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    RUNTIME_FIELD_NUMBER: _ClassVar[int]
    TRANSITION_FIELD_NUMBER: _ClassVar[int]
    LOG_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    stage: _common_pb2.Stage
    job_id: str
    time: _timestamp_pb2.Timestamp
    runtime: RuntimeEvent
    transition: RunEvent.StageTransition
    log: RunEvent.LogLine
    def __init__(self, run_id: _Optional[str] = ..., stage: _Optional[_Union[_common_pb2.Stage, str]] = ..., job_id: _Optional[str] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., runtime: _Optional[_Union[RuntimeEvent, _Mapping]] = ..., transition: _Optional[_Union[RunEvent.StageTransition, _Mapping]] = ..., log: _Optional[_Union[RunEvent.LogLine, _Mapping]] = ...) -> None: ...
