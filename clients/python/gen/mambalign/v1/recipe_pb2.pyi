from mambalign.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class LoraArgs(_message.Message):
    __slots__ = ("enabled", "r", "alpha", "dropout", "target_modules", "modules_to_save", "load_in_4bit")
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    R_FIELD_NUMBER: _ClassVar[int]
    ALPHA_FIELD_NUMBER: _ClassVar[int]
    DROPOUT_FIELD_NUMBER: _ClassVar[int]
    TARGET_MODULES_FIELD_NUMBER: _ClassVar[int]
    MODULES_TO_SAVE_FIELD_NUMBER: _ClassVar[int]
    LOAD_IN_4BIT_FIELD_NUMBER: _ClassVar[int]
    enabled: bool
    r: int
    alpha: float
    dropout: float
    target_modules: _containers.RepeatedScalarFieldContainer[str]
    modules_to_save: _containers.RepeatedScalarFieldContainer[str]
    load_in_4bit: bool
    def __init__(self, enabled: _Optional[bool] = ..., r: _Optional[int] = ..., alpha: _Optional[float] = ..., dropout: _Optional[float] = ..., target_modules: _Optional[_Iterable[str]] = ..., modules_to_save: _Optional[_Iterable[str]] = ..., load_in_4bit: _Optional[bool] = ...) -> None: ...

class TrainingArgs(_message.Message):
    __slots__ = ("dataset_mixer", "dataset_splits", "learning_rate", "lr_scheduler_type", "warmup_ratio", "num_train_epochs", "max_steps", "per_device_train_batch_size", "per_device_eval_batch_size", "gradient_accumulation_steps", "global_batch_size", "gradient_checkpointing", "max_seq_length", "packing", "torch_dtype", "bf16", "optim", "weight_decay", "adam_beta1", "adam_beta2", "adam_epsilon", "max_grad_norm", "save_steps", "eval_steps", "logging_steps", "seed", "lora", "chat_template", "assistant_only_loss", "save_every_minutes", "report_to", "mlflow_tracking_uri")
    class DatasetMixerEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    DATASET_MIXER_FIELD_NUMBER: _ClassVar[int]
    DATASET_SPLITS_FIELD_NUMBER: _ClassVar[int]
    LEARNING_RATE_FIELD_NUMBER: _ClassVar[int]
    LR_SCHEDULER_TYPE_FIELD_NUMBER: _ClassVar[int]
    WARMUP_RATIO_FIELD_NUMBER: _ClassVar[int]
    NUM_TRAIN_EPOCHS_FIELD_NUMBER: _ClassVar[int]
    MAX_STEPS_FIELD_NUMBER: _ClassVar[int]
    PER_DEVICE_TRAIN_BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    PER_DEVICE_EVAL_BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    GRADIENT_ACCUMULATION_STEPS_FIELD_NUMBER: _ClassVar[int]
    GLOBAL_BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    GRADIENT_CHECKPOINTING_FIELD_NUMBER: _ClassVar[int]
    MAX_SEQ_LENGTH_FIELD_NUMBER: _ClassVar[int]
    PACKING_FIELD_NUMBER: _ClassVar[int]
    TORCH_DTYPE_FIELD_NUMBER: _ClassVar[int]
    BF16_FIELD_NUMBER: _ClassVar[int]
    OPTIM_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_DECAY_FIELD_NUMBER: _ClassVar[int]
    ADAM_BETA1_FIELD_NUMBER: _ClassVar[int]
    ADAM_BETA2_FIELD_NUMBER: _ClassVar[int]
    ADAM_EPSILON_FIELD_NUMBER: _ClassVar[int]
    MAX_GRAD_NORM_FIELD_NUMBER: _ClassVar[int]
    SAVE_STEPS_FIELD_NUMBER: _ClassVar[int]
    EVAL_STEPS_FIELD_NUMBER: _ClassVar[int]
    LOGGING_STEPS_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    LORA_FIELD_NUMBER: _ClassVar[int]
    CHAT_TEMPLATE_FIELD_NUMBER: _ClassVar[int]
    ASSISTANT_ONLY_LOSS_FIELD_NUMBER: _ClassVar[int]
    SAVE_EVERY_MINUTES_FIELD_NUMBER: _ClassVar[int]
    REPORT_TO_FIELD_NUMBER: _ClassVar[int]
    MLFLOW_TRACKING_URI_FIELD_NUMBER: _ClassVar[int]
    dataset_mixer: _containers.ScalarMap[str, float]
    dataset_splits: _containers.RepeatedScalarFieldContainer[str]
    learning_rate: float
    lr_scheduler_type: str
    warmup_ratio: float
    num_train_epochs: float
    max_steps: int
    per_device_train_batch_size: int
    per_device_eval_batch_size: int
    gradient_accumulation_steps: int
    global_batch_size: int
    gradient_checkpointing: bool
    max_seq_length: int
    packing: bool
    torch_dtype: str
    bf16: bool
    optim: str
    weight_decay: float
    adam_beta1: float
    adam_beta2: float
    adam_epsilon: float
    max_grad_norm: float
    save_steps: int
    eval_steps: int
    logging_steps: int
    seed: int
    lora: LoraArgs
    chat_template: str
    assistant_only_loss: bool
    save_every_minutes: float
    report_to: _containers.RepeatedScalarFieldContainer[str]
    mlflow_tracking_uri: str
    def __init__(self, dataset_mixer: _Optional[_Mapping[str, float]] = ..., dataset_splits: _Optional[_Iterable[str]] = ..., learning_rate: _Optional[float] = ..., lr_scheduler_type: _Optional[str] = ..., warmup_ratio: _Optional[float] = ..., num_train_epochs: _Optional[float] = ..., max_steps: _Optional[int] = ..., per_device_train_batch_size: _Optional[int] = ..., per_device_eval_batch_size: _Optional[int] = ..., gradient_accumulation_steps: _Optional[int] = ..., global_batch_size: _Optional[int] = ..., gradient_checkpointing: _Optional[bool] = ..., max_seq_length: _Optional[int] = ..., packing: _Optional[bool] = ..., torch_dtype: _Optional[str] = ..., bf16: _Optional[bool] = ..., optim: _Optional[str] = ..., weight_decay: _Optional[float] = ..., adam_beta1: _Optional[float] = ..., adam_beta2: _Optional[float] = ..., adam_epsilon: _Optional[float] = ..., max_grad_norm: _Optional[float] = ..., save_steps: _Optional[int] = ..., eval_steps: _Optional[int] = ..., logging_steps: _Optional[int] = ..., seed: _Optional[int] = ..., lora: _Optional[_Union[LoraArgs, _Mapping]] = ..., chat_template: _Optional[str] = ..., assistant_only_loss: _Optional[bool] = ..., save_every_minutes: _Optional[float] = ..., report_to: _Optional[_Iterable[str]] = ..., mlflow_tracking_uri: _Optional[str] = ...) -> None: ...

class DpoArgs(_message.Message):
    __slots__ = ("beta", "loss_type", "max_length", "max_prompt_length", "rpo_alpha")
    BETA_FIELD_NUMBER: _ClassVar[int]
    LOSS_TYPE_FIELD_NUMBER: _ClassVar[int]
    MAX_LENGTH_FIELD_NUMBER: _ClassVar[int]
    MAX_PROMPT_LENGTH_FIELD_NUMBER: _ClassVar[int]
    RPO_ALPHA_FIELD_NUMBER: _ClassVar[int]
    beta: float
    loss_type: str
    max_length: int
    max_prompt_length: int
    rpo_alpha: float
    def __init__(self, beta: _Optional[float] = ..., loss_type: _Optional[str] = ..., max_length: _Optional[int] = ..., max_prompt_length: _Optional[int] = ..., rpo_alpha: _Optional[float] = ...) -> None: ...

class EvalArgs(_message.Message):
    __slots__ = ("exact_match_dataset", "max_new_tokens", "batch_size", "benchmarks", "limit", "bench_max_new_tokens", "bench_data_dir", "judge_model")
    EXACT_MATCH_DATASET_FIELD_NUMBER: _ClassVar[int]
    MAX_NEW_TOKENS_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    BENCHMARKS_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    BENCH_MAX_NEW_TOKENS_FIELD_NUMBER: _ClassVar[int]
    BENCH_DATA_DIR_FIELD_NUMBER: _ClassVar[int]
    JUDGE_MODEL_FIELD_NUMBER: _ClassVar[int]
    exact_match_dataset: str
    max_new_tokens: int
    batch_size: int
    benchmarks: _containers.RepeatedScalarFieldContainer[str]
    limit: int
    bench_max_new_tokens: int
    bench_data_dir: str
    judge_model: str
    def __init__(self, exact_match_dataset: _Optional[str] = ..., max_new_tokens: _Optional[int] = ..., batch_size: _Optional[int] = ..., benchmarks: _Optional[_Iterable[str]] = ..., limit: _Optional[int] = ..., bench_max_new_tokens: _Optional[int] = ..., bench_data_dir: _Optional[str] = ..., judge_model: _Optional[str] = ...) -> None: ...

class StageRecipe(_message.Message):
    __slots__ = ("args", "dpo")
    ARGS_FIELD_NUMBER: _ClassVar[int]
    DPO_FIELD_NUMBER: _ClassVar[int]
    args: TrainingArgs
    dpo: DpoArgs
    def __init__(self, args: _Optional[_Union[TrainingArgs, _Mapping]] = ..., dpo: _Optional[_Union[DpoArgs, _Mapping]] = ...) -> None: ...

class Recipe(_message.Message):
    __slots__ = ("name", "model", "stages", "sft", "dpo", "eval", "dataset_sources")
    class DatasetSourcesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    STAGES_FIELD_NUMBER: _ClassVar[int]
    SFT_FIELD_NUMBER: _ClassVar[int]
    DPO_FIELD_NUMBER: _ClassVar[int]
    EVAL_FIELD_NUMBER: _ClassVar[int]
    DATASET_SOURCES_FIELD_NUMBER: _ClassVar[int]
    name: str
    model: _common_pb2.ModelRef
    stages: _containers.RepeatedScalarFieldContainer[_common_pb2.Stage]
    sft: StageRecipe
    dpo: StageRecipe
    eval: EvalArgs
    dataset_sources: _containers.ScalarMap[str, str]
    def __init__(self, name: _Optional[str] = ..., model: _Optional[_Union[_common_pb2.ModelRef, _Mapping]] = ..., stages: _Optional[_Iterable[_Union[_common_pb2.Stage, str]]] = ..., sft: _Optional[_Union[StageRecipe, _Mapping]] = ..., dpo: _Optional[_Union[StageRecipe, _Mapping]] = ..., eval: _Optional[_Union[EvalArgs, _Mapping]] = ..., dataset_sources: _Optional[_Mapping[str, str]] = ...) -> None: ...

class RecipeIssue(_message.Message):
    __slots__ = ("key", "message", "fatal")
    KEY_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    FATAL_FIELD_NUMBER: _ClassVar[int]
    key: str
    message: str
    fatal: bool
    def __init__(self, key: _Optional[str] = ..., message: _Optional[str] = ..., fatal: _Optional[bool] = ...) -> None: ...
