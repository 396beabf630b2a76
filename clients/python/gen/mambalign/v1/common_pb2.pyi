from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class Stage(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    STAGE_UNSPECIFIED: _ClassVar[Stage]
    STAGE_SFT: _ClassVar[Stage]
    STAGE_MERGE: _ClassVar[Stage]
    STAGE_DPO: _ClassVar[Stage]
    STAGE_EVAL: _ClassVar[Stage]
STAGE_UNSPECIFIED: Stage
STAGE_SFT: Stage
STAGE_MERGE: Stage
STAGE_DPO: Stage
STAGE_EVAL: Stage

class ModelRef(_message.Message):
    __slots__ = ("uri", "revision", "resolved")
    URI_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    RESOLVED_FIELD_NUMBER: _ClassVar[int]
    uri: str
    revision: str
    resolved: str
    def __init__(self, uri: _Optional[str] = ..., revision: _Optional[str] = ..., resolved: _Optional[str] = ...) -> None: ...
