from mambalign.v1 import common_pb2 as _common_pb2
from mambalign.v1 import datasets_pb2 as _datasets_pb2
from mambalign.v1 import recipe_pb2 as _recipe_pb2
from mambalign.v1 import registry_pb2 as _registry_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class StageJob(_message.Message):
    __slots__ = ("job_id", "run_id", "stage", "attempt", "base_model", "input_version", "train_dataset", "eval_dataset", "recipe", "eval", "output_name", "prefs_dataset", "train_data", "eval_data", "lineage")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    BASE_MODEL_FIELD_NUMBER: _ClassVar[int]
    INPUT_VERSION_FIELD_NUMBER: _ClassVar[int]
    TRAIN_DATASET_FIELD_NUMBER: _ClassVar[int]
    EVAL_DATASET_FIELD_NUMBER: _ClassVar[int]
    RECIPE_FIELD_NUMBER: _ClassVar[int]
    EVAL_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_NAME_FIELD_NUMBER: _ClassVar[int]
    PREFS_DATASET_FIELD_NUMBER: _ClassVar[int]
    TRAIN_DATA_FIELD_NUMBER: _ClassVar[int]
    EVAL_DATA_FIELD_NUMBER: _ClassVar[int]
    LINEAGE_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    run_id: str
    stage: _common_pb2.Stage
    attempt: int
    base_model: _common_pb2.ModelRef
    input_version: str
    train_dataset: str
    eval_dataset: str
    recipe: _recipe_pb2.StageRecipe
    eval: _recipe_pb2.EvalArgs
    output_name: str
    prefs_dataset: str
    train_data: _datasets_pb2.DatasetVersion
    eval_data: _datasets_pb2.DatasetVersion
    lineage: _containers.RepeatedCompositeFieldContainer[_registry_pb2.AdapterVersion]
    def __init__(self, job_id: _Optional[str] = ..., run_id: _Optional[str] = ..., stage: _Optional[_Union[_common_pb2.Stage, str]] = ..., attempt: _Optional[int] = ..., base_model: _Optional[_Union[_common_pb2.ModelRef, _Mapping]] = ..., input_version: _Optional[str] = ..., train_dataset: _Optional[str] = ..., eval_dataset: _Optional[str] = ..., recipe: _Optional[_Union[_recipe_pb2.StageRecipe, _Mapping]] = ..., eval: _Optional[_Union[_recipe_pb2.EvalArgs, _Mapping]] = ..., output_name: _Optional[str] = ..., prefs_dataset: _Optional[str] = ..., train_data: _Optional[_Union[_datasets_pb2.DatasetVersion, _Mapping]] = ..., eval_data: _Optional[_Union[_datasets_pb2.DatasetVersion, _Mapping]] = ..., lineage: _Optional[_Iterable[_Union[_registry_pb2.AdapterVersion, _Mapping]]] = ...) -> None: ...
