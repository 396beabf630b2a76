"""mambalign's Python runtime: `python -m mambalign_runtime <command> --spec spec.json`.

It reads a RuntimeSpec (proto3 JSON) and local files, writes local files, and prints one
proto3-JSON RuntimeEvent per stdout line. It never talks to NATS or S3.
"""

__version__ = "0.1.0"
