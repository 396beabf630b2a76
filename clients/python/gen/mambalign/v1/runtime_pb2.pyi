from mambalign.v1 import recipe_pb2 as _recipe_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RuntimeSpec(_message.Message):
    __slots__ = ("command", "model", "adapter", "output_dir", "kernels", "device", "tokenizer", "train", "merge", "generate", "score", "tokenize", "run_id")
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    ADAPTER_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_DIR_FIELD_NUMBER: _ClassVar[int]
    KERNELS_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    TOKENIZER_FIELD_NUMBER: _ClassVar[int]
    TRAIN_FIELD_NUMBER: _ClassVar[int]
    MERGE_FIELD_NUMBER: _ClassVar[int]
    GENERATE_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    TOKENIZE_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    command: str
    model: str
    adapter: str
    output_dir: str
    kernels: str
    device: str
    tokenizer: str
    train: TrainSpec
    merge: MergeSpec
    generate: GenerateSpec
    score: ScoreSpec
    tokenize: TokenizeSpec
    run_id: str
    def __init__(self, command: _Optional[str] = ..., model: _Optional[str] = ..., adapter: _Optional[str] = ..., output_dir: _Optional[str] = ..., kernels: _Optional[str] = ..., device: _Optional[str] = ..., tokenizer: _Optional[str] = ..., train: _Optional[_Union[TrainSpec, _Mapping]] = ..., merge: _Optional[_Union[MergeSpec, _Mapping]] = ..., generate: _Optional[_Union[GenerateSpec, _Mapping]] = ..., score: _Optional[_Union[ScoreSpec, _Mapping]] = ..., tokenize: _Optional[_Union[TokenizeSpec, _Mapping]] = ..., run_id: _Optional[str] = ...) -> None: ...

class TrainSpec(_message.Message):
    __slots__ = ("train_file", "eval_file", "args", "dpo", "resume_from", "reference_cache_dir")
    TRAIN_FILE_FIELD_NUMBER: _ClassVar[int]
    EVAL_FILE_FIELD_NUMBER: _ClassVar[int]
    ARGS_FIELD_NUMBER: _ClassVar[int]
    DPO_FIELD_NUMBER: _ClassVar[int]
    RESUME_FROM_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_CACHE_DIR_FIELD_NUMBER: _ClassVar[int]
    train_file: str
    eval_file: str
    args: _recipe_pb2.TrainingArgs
    dpo: _recipe_pb2.DpoArgs
    resume_from: str
    reference_cache_dir: str
    def __init__(self, train_file: _Optional[str] = ..., eval_file: _Optional[str] = ..., args: _Optional[_Union[_recipe_pb2.TrainingArgs, _Mapping]] = ..., dpo: _Optional[_Union[_recipe_pb2.DpoArgs, _Mapping]] = ..., resume_from: _Optional[str] = ..., reference_cache_dir: _Optional[str] = ...) -> None: ...

class MergeSpec(_message.Message):
    __slots__ = ("dtype",)
    DTYPE_FIELD_NUMBER: _ClassVar[int]
    dtype: str
    def __init__(self, dtype: _Optional[str] = ...) -> None: ...

class GenerateSpec(_message.Message):
    __slots__ = ("prompts_file", "output_file", "max_new_tokens", "temperature", "batch_size", "seed", "chat_template", "eager")
    PROMPTS_FILE_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FILE_FIELD_NUMBER: _ClassVar[int]
    MAX_NEW_TOKENS_FIELD_NUMBER: _ClassVar[int]
    TEMPERATURE_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    CHAT_TEMPLATE_FIELD_NUMBER: _ClassVar[int]
    EAGER_FIELD_NUMBER: _ClassVar[int]
    prompts_file: str
    output_file: str
    max_new_tokens: int
    temperature: float
    batch_size: int
    seed: int
    chat_template: str
    eager: bool
    def __init__(self, prompts_file: _Optional[str] = ..., output_file: _Optional[str] = ..., max_new_tokens: _Optional[int] = ..., temperature: _Optional[float] = ..., batch_size: _Optional[int] = ..., seed: _Optional[int] = ..., chat_template: _Optional[str] = ..., eager: _Optional[bool] = ...) -> None: ...

class ScoreSpec(_message.Message):
    __slots__ = ("prefs_file", "sft_file", "output_file", "batch_size", "chat_template", "max_length")
    PREFS_FILE_FIELD_NUMBER: _ClassVar[int]
    SFT_FILE_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FILE_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    CHAT_TEMPLATE_FIELD_NUMBER: _ClassVar[int]
    MAX_LENGTH_FIELD_NUMBER: _ClassVar[int]
    prefs_file: str
    sft_file: str
    output_file: str
    batch_size: int
    chat_template: str
    max_length: int
    def __init__(self, prefs_file: _Optional[str] = ..., sft_file: _Optional[str] = ..., output_file: _Optional[str] = ..., batch_size: _Optional[int] = ..., chat_template: _Optional[str] = ..., max_length: _Optional[int] = ...) -> None: ...

class TokenizeSpec(_message.Message):
    __slots__ = ("inputs", "kind", "max_length", "pack", "assistant_only", "chat_template", "shard_rows", "workers")
    class InputsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    INPUTS_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    MAX_LENGTH_FIELD_NUMBER: _ClassVar[int]
    PACK_FIELD_NUMBER: _ClassVar[int]
    ASSISTANT_ONLY_FIELD_NUMBER: _ClassVar[int]
    CHAT_TEMPLATE_FIELD_NUMBER: _ClassVar[int]
    SHARD_ROWS_FIELD_NUMBER: _ClassVar[int]
    WORKERS_FIELD_NUMBER: _ClassVar[int]
    inputs: _containers.ScalarMap[str, str]
    kind: str
    max_length: int
    pack: bool
    assistant_only: bool
    chat_template: str
    shard_rows: int
    workers: int
    def __init__(self, inputs: _Optional[_Mapping[str, str]] = ..., kind: _Optional[str] = ..., max_length: _Optional[int] = ..., pack: _Optional[bool] = ..., assistant_only: _Optional[bool] = ..., chat_template: _Optional[str] = ..., shard_rows: _Optional[int] = ..., workers: _Optional[int] = ...) -> None: ...
