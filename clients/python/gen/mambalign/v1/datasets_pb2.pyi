import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DatasetKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DATASET_KIND_UNSPECIFIED: _ClassVar[DatasetKind]
    DATASET_KIND_SFT: _ClassVar[DatasetKind]
    DATASET_KIND_PREFERENCE: _ClassVar[DatasetKind]
DATASET_KIND_UNSPECIFIED: DatasetKind
DATASET_KIND_SFT: DatasetKind
DATASET_KIND_PREFERENCE: DatasetKind

class DatasetSource(_message.Message):
    __slots__ = ("uri", "fraction")
    URI_FIELD_NUMBER: _ClassVar[int]
    FRACTION_FIELD_NUMBER: _ClassVar[int]
    uri: str
    fraction: float
    def __init__(self, uri: _Optional[str] = ..., fraction: _Optional[float] = ...) -> None: ...

class PrepareDatasetRequest(_message.Message):
    __slots__ = ("sources", "kind", "test_fraction", "seed", "name", "splits")
    SOURCES_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    TEST_FRACTION_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    SPLITS_FIELD_NUMBER: _ClassVar[int]
    sources: _containers.RepeatedCompositeFieldContainer[DatasetSource]
    kind: DatasetKind
    test_fraction: float
    seed: int
    name: str
    splits: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, sources: _Optional[_Iterable[_Union[DatasetSource, _Mapping]]] = ..., kind: _Optional[_Union[DatasetKind, str]] = ..., test_fraction: _Optional[float] = ..., seed: _Optional[int] = ..., name: _Optional[str] = ..., splits: _Optional[_Iterable[str]] = ...) -> None: ...

class PrepareDatasetResponse(_message.Message):
    __slots__ = ("dataset",)
    DATASET_FIELD_NUMBER: _ClassVar[int]
    dataset: DatasetVersion
    def __init__(self, dataset: _Optional[_Union[DatasetVersion, _Mapping]] = ...) -> None: ...

class SplitInfo(_message.Message):
    __slots__ = ("name", "rows", "key", "sha256")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    name: str
    rows: int
    key: str
    sha256: str
    def __init__(self, name: _Optional[str] = ..., rows: _Optional[int] = ..., key: _Optional[str] = ..., sha256: _Optional[str] = ...) -> None: ...

class QuarantinedRow(_message.Message):
    __slots__ = ("source", "row", "reason")
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    ROW_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    source: str
    row: int
    reason: str
    def __init__(self, source: _Optional[str] = ..., row: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

class DatasetVersion(_message.Message):
    __slots__ = ("id", "name", "kind", "splits", "quarantined_rows", "quarantine_key", "quarantine_sample", "sources", "created_at", "uri")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    SPLITS_FIELD_NUMBER: _ClassVar[int]
    QUARANTINED_ROWS_FIELD_NUMBER: _ClassVar[int]
    QUARANTINE_KEY_FIELD_NUMBER: _ClassVar[int]
    QUARANTINE_SAMPLE_FIELD_NUMBER: _ClassVar[int]
    SOURCES_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    URI_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    kind: DatasetKind
    splits: _containers.RepeatedCompositeFieldContainer[SplitInfo]
    quarantined_rows: int
    quarantine_key: str
    quarantine_sample: _containers.RepeatedCompositeFieldContainer[QuarantinedRow]
    sources: _containers.RepeatedCompositeFieldContainer[DatasetSource]
    created_at: _timestamp_pb2.Timestamp
    uri: str
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., kind: _Optional[_Union[DatasetKind, str]] = ..., splits: _Optional[_Iterable[_Union[SplitInfo, _Mapping]]] = ..., quarantined_rows: _Optional[int] = ..., quarantine_key: _Optional[str] = ..., quarantine_sample: _Optional[_Iterable[_Union[QuarantinedRow, _Mapping]]] = ..., sources: _Optional[_Iterable[_Union[DatasetSource, _Mapping]]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., uri: _Optional[str] = ...) -> None: ...

class GetDatasetRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class GetDatasetResponse(_message.Message):
    __slots__ = ("dataset",)
    DATASET_FIELD_NUMBER: _ClassVar[int]
    dataset: DatasetVersion
    def __init__(self, dataset: _Optional[_Union[DatasetVersion, _Mapping]] = ...) -> None: ...

class ListDatasetsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListDatasetsResponse(_message.Message):
    __slots__ = ("datasets",)
    DATASETS_FIELD_NUMBER: _ClassVar[int]
    datasets: _containers.RepeatedCompositeFieldContainer[DatasetVersion]
    def __init__(self, datasets: _Optional[_Iterable[_Union[DatasetVersion, _Mapping]]] = ...) -> None: ...

class GetDatasetCardRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class GetDatasetCardResponse(_message.Message):
    __slots__ = ("card_json", "text", "histogram_png")
    CARD_JSON_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    HISTOGRAM_PNG_FIELD_NUMBER: _ClassVar[int]
    card_json: str
    text: str
    histogram_png: bytes
    def __init__(self, card_json: _Optional[str] = ..., text: _Optional[str] = ..., histogram_png: _Optional[bytes] = ...) -> None: ...
