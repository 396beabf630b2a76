"""The runtime's failures, each mapped to one exit code of the runtime contract."""

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_INVALID = 2
EXIT_PREEMPTED = 75


class RuntimeFailure(Exception):
    """A failure reported as an `error` event and exit code 1.

    `field` names the spec field or file at fault when known; `retryable` says whether
    running the same spec again can help (a network blip can, a NaN loss cannot).
    """

    exit_code = EXIT_ERROR

    def __init__(self, message: str, field: str = "", retryable: bool = False):
        super().__init__(message)
        self.message = message
        self.field = field
        self.retryable = retryable


class InvalidInput(RuntimeFailure):
    """The spec or an input file is wrong (exit 2, never retryable).

    `field` is the spec field in proto3 JSON spelling ("train.args.learningRate") or
    "<file>:<row>" for a bad input row.
    """

    exit_code = EXIT_INVALID

    def __init__(self, message: str, field: str = ""):
        super().__init__(message, field=field, retryable=False)
