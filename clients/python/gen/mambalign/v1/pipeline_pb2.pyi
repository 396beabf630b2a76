import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from mambalign.v1 import common_pb2 as _common_pb2
from mambalign.v1 import datasets_pb2 as _datasets_pb2
from mambalign.v1 import events_pb2 as _events_pb2
from mambalign.v1 import recipe_pb2 as _recipe_pb2
from mambalign.v1 import registry_pb2 as _registry_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RunStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RUN_STATUS_UNSPECIFIED: _ClassVar[RunStatus]
    RUN_STATUS_PENDING: _ClassVar[RunStatus]
    RUN_STATUS_RUNNING: _ClassVar[RunStatus]
    RUN_STATUS_SUCCEEDED: _ClassVar[RunStatus]
    RUN_STATUS_FAILED: _ClassVar[RunStatus]
    RUN_STATUS_CANCELLED: _ClassVar[RunStatus]
RUN_STATUS_UNSPECIFIED: RunStatus
RUN_STATUS_PENDING: RunStatus
RUN_STATUS_RUNNING: RunStatus
RUN_STATUS_SUCCEEDED: RunStatus
RUN_STATUS_FAILED: RunStatus
RUN_STATUS_CANCELLED: RunStatus

class StageState(_message.Message):
    __slots__ = ("stage", "status", "attempt", "job_id", "output", "message", "step", "total_steps", "metrics", "started_at", "finished_at", "output_version")
    class MetricsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    STAGE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    TOTAL_STEPS_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    FINISHED_AT_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_VERSION_FIELD_NUMBER: _ClassVar[int]
    stage: _common_pb2.Stage
    status: _events_pb2.StageStatus
    attempt: int
    job_id: str
    output: str
    message: str
    step: int
    total_steps: int
    metrics: _containers.ScalarMap[str, float]
    started_at: _timestamp_pb2.Timestamp
    finished_at: _timestamp_pb2.Timestamp
    output_version: _registry_pb2.AdapterVersion
    def __init__(self, stage: _Optional[_Union[_common_pb2.Stage, str]] = ..., status: _Optional[_Union[_events_pb2.StageStatus, str]] = ..., attempt: _Optional[int] = ..., job_id: _Optional[str] = ..., output: _Optional[str] = ..., message: _Optional[str] = ..., step: _Optional[int] = ..., total_steps: _Optional[int] = ..., metrics: _Optional[_Mapping[str, float]] = ..., started_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., finished_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., output_version: _Optional[_Union[_registry_pb2.AdapterVersion, _Mapping]] = ...) -> None: ...

class BaselineEval(_message.Message):
    __slots__ = ("label", "version_id", "job_id", "status", "output", "metrics", "message")
    class MetricsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    LABEL_FIELD_NUMBER: _ClassVar[int]
    VERSION_ID_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    label: str
    version_id: str
    job_id: str
    status: _events_pb2.StageStatus
    output: str
    metrics: _containers.ScalarMap[str, float]
    message: str
    def __init__(self, label: _Optional[str] = ..., version_id: _Optional[str] = ..., job_id: _Optional[str] = ..., status: _Optional[_Union[_events_pb2.StageStatus, str]] = ..., output: _Optional[str] = ..., metrics: _Optional[_Mapping[str, float]] = ..., message: _Optional[str] = ...) -> None: ...

class Run(_message.Message):
    __slots__ = ("id", "request_id", "recipe", "status", "stages", "train_dataset_sft", "train_dataset_dpo", "message", "created_at", "updated_at", "warnings", "baselines", "eval_questions", "started_by", "sft_data", "dpo_data")
    ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    RECIPE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    STAGES_FIELD_NUMBER: _ClassVar[int]
    TRAIN_DATASET_SFT_FIELD_NUMBER: _ClassVar[int]
    TRAIN_DATASET_DPO_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    BASELINES_FIELD_NUMBER: _ClassVar[int]
    EVAL_QUESTIONS_FIELD_NUMBER: _ClassVar[int]
    STARTED_BY_FIELD_NUMBER: _ClassVar[int]
    SFT_DATA_FIELD_NUMBER: _ClassVar[int]
    DPO_DATA_FIELD_NUMBER: _ClassVar[int]
    id: str
    request_id: str
    recipe: _recipe_pb2.Recipe
    status: RunStatus
    stages: _containers.RepeatedCompositeFieldContainer[StageState]
    train_dataset_sft: str
    train_dataset_dpo: str
    message: str
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    warnings: _containers.RepeatedScalarFieldContainer[str]
    baselines: _containers.RepeatedCompositeFieldContainer[BaselineEval]
    eval_questions: str
    started_by: str
    sft_data: _datasets_pb2.DatasetVersion
    dpo_data: _datasets_pb2.DatasetVersion
    def __init__(self, id: _Optional[str] = ..., request_id: _Optional[str] = ..., recipe: _Optional[_Union[_recipe_pb2.Recipe, _Mapping]] = ..., status: _Optional[_Union[RunStatus, str]] = ..., stages: _Optional[_Iterable[_Union[StageState, _Mapping]]] = ..., train_dataset_sft: _Optional[str] = ..., train_dataset_dpo: _Optional[str] = ..., message: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., warnings: _Optional[_Iterable[str]] = ..., baselines: _Optional[_Iterable[_Union[BaselineEval, _Mapping]]] = ..., eval_questions: _Optional[str] = ..., started_by: _Optional[str] = ..., sft_data: _Optional[_Union[_datasets_pb2.DatasetVersion, _Mapping]] = ..., dpo_data: _Optional[_Union[_datasets_pb2.DatasetVersion, _Mapping]] = ...) -> None: ...

class StartRunRequest(_message.Message):
    __slots__ = ("recipe_yaml", "request_id")
    RECIPE_YAML_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    recipe_yaml: str
    request_id: str
    def __init__(self, recipe_yaml: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class GetRunRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class ListRunsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListRunsResponse(_message.Message):
    __slots__ = ("runs",)
    RUNS_FIELD_NUMBER: _ClassVar[int]
    runs: _containers.RepeatedCompositeFieldContainer[Run]
    def __init__(self, runs: _Optional[_Iterable[_Union[Run, _Mapping]]] = ...) -> None: ...

class CancelRunRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class WatchRunRequest(_message.Message):
    __slots__ = ("id", "from_seq")
    ID_FIELD_NUMBER: _ClassVar[int]
    FROM_SEQ_FIELD_NUMBER: _ClassVar[int]
    id: str
    from_seq: int
    def __init__(self, id: _Optional[str] = ..., from_seq: _Optional[int] = ...) -> None: ...

class WatchRunResponse(_message.Message):
    __slots__ = ("seq", "event", "run")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    RUN_FIELD_NUMBER: _ClassVar[int]
    seq: int
    event: _events_pb2.RunEvent
    run: Run
    def __init__(self, seq: _Optional[int] = ..., event: _Optional[_Union[_events_pb2.RunEvent, _Mapping]] = ..., run: _Optional[_Union[Run, _Mapping]] = ...) -> None: ...

class CheckRecipeRequest(_message.Message):
    __slots__ = ("recipe_yaml",)
    RECIPE_YAML_FIELD_NUMBER: _ClassVar[int]
    recipe_yaml: str
    def __init__(self, recipe_yaml: _Optional[str] = ...) -> None: ...

class CheckRecipeResponse(_message.Message):
    __slots__ = ("recipe", "issues")
    RECIPE_FIELD_NUMBER: _ClassVar[int]
    ISSUES_FIELD_NUMBER: _ClassVar[int]
    recipe: _recipe_pb2.Recipe
    issues: _containers.RepeatedCompositeFieldContainer[_recipe_pb2.RecipeIssue]
    def __init__(self, recipe: _Optional[_Union[_recipe_pb2.Recipe, _Mapping]] = ..., issues: _Optional[_Iterable[_Union[_recipe_pb2.RecipeIssue, _Mapping]]] = ...) -> None: ...

class StartRunResponse(_message.Message):
    __slots__ = ("run",)
    RUN_FIELD_NUMBER: _ClassVar[int]
    run: Run
    def __init__(self, run: _Optional[_Union[Run, _Mapping]] = ...) -> None: ...

class GetRunResponse(_message.Message):
    __slots__ = ("run",)
    RUN_FIELD_NUMBER: _ClassVar[int]
    run: Run
    def __init__(self, run: _Optional[_Union[Run, _Mapping]] = ...) -> None: ...

class CancelRunResponse(_message.Message):
    __slots__ = ("run",)
    RUN_FIELD_NUMBER: _ClassVar[int]
    run: Run
    def __init__(self, run: _Optional[_Union[Run, _Mapping]] = ...) -> None: ...
