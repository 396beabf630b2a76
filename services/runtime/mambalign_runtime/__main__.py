"""`python -m mambalign_runtime <command> --spec spec.json [--resume DIR] [--nproc N]`, `demo-data --out DIR`
and `bench [flags]` (the kernel benchmark, see bench.py). `--nproc N` runs sft/dpo on N GPUs
through torchrun (launch.py); under torchrun only rank 0 writes events.

stdout carries RuntimeEvents only; logs go to stderr. Exit codes: 0 completed, 1 error,
2 invalid spec or input, 75 preempted (SIGTERM, checkpoint saved).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback

from .cpu_threads import apply_cpu_threads
from .distributed import env_world, record_exit, register_pid, shutdown
from .errors import EXIT_ERROR, InvalidInput, RuntimeFailure
from .events import EventWriter
from .spec import COMMANDS, load_spec

log = logging.getLogger("mambalign_runtime")


def _dispatch(command: str, spec, events: EventWriter, resume: str) -> int:
    # Imported per command so `demo-data` and spec errors answer without loading torch.
    if command == "sft":
        from .sft import run_sft

        return run_sft(spec, events, resume)
    if command == "dpo":
        from .dpo import run_dpo

        return run_dpo(spec, events, resume)
    if command == "merge":
        from .merge import run_merge

        return run_merge(spec, events)
    if command == "generate":
        from .generate import run_generate

        return run_generate(spec, events)
    if command == "score":
        from .score import run_score

        return run_score(spec, events)
    if command == "tokenize":
        from .tokenize import run_tokenize

        return run_tokenize(spec, events)
    raise InvalidInput(f"command: unknown command {command!r}", field="command")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["bench"]:
        # The kernel benchmark has its own flags (python -m mambalign_runtime bench --help).
        from .bench import main as bench_main

        return bench_main(argv[1:])
    if argv[:1] == ["tokenize"] and "--spec" not in argv:
        # Tokenisation by hand has its own flags (tokenize.py); the datasets service writes a spec.
        from .tokenize import main as tokenize_main

        return tokenize_main(argv[1:])
    world = env_world()
    # Under torchrun every rank logs to stderr; the rank prefix tells them apart.
    prefix = f"[rank {world.rank}] " if world.distributed else ""
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO").upper(), stream=sys.stderr,
                        format=f"%(asctime)s %(levelname)s %(name)s: {prefix}%(message)s")
    parser = argparse.ArgumentParser(prog="python -m mambalign_runtime")
    parser.add_argument("command", choices=[c for c in COMMANDS if c != "bench"] + ["demo-data"])
    parser.add_argument("--spec", help="RuntimeSpec as proto3 JSON")
    parser.add_argument("--resume", default="", help="checkpoint directory to continue from")
    parser.add_argument("--out", help="demo-data: output directory")
    parser.add_argument("--seed", type=int, default=0, help="demo-data: seed")
    parser.add_argument("--nproc", type=int, default=0,
                        help="sft/dpo: data-parallel processes (GPUs) on this machine, run through torchrun")
    ns = parser.parse_args(argv)
    # Only rank 0 speaks on stdout; the other ranks' events go nowhere.
    events = EventWriter() if world.is_main else EventWriter(open(os.devnull, "w"))
    register_pid(world)
    code, message = _run(ns, argv, events, world)
    record_exit(world, code, message)
    shutdown()
    return code


def _run(ns, argv: list[str], events: EventWriter, world) -> tuple[int, str]:
    """(exit code, error message or "")."""
    try:
        return _command(ns, argv, events, world), ""
    except RuntimeFailure as err:
        log.error("%s", err.message)
        events.error(err.message, err.field, err.retryable)
        return err.exit_code, err.message
    except KeyboardInterrupt:
        events.error("interrupted", retryable=True)
        return EXIT_ERROR, "interrupted"
    except Exception as err:  # anything unexpected still ends with an error event, never a bare traceback
        traceback.print_exc(file=sys.stderr)
        events.error(f"{type(err).__name__}: {err}", retryable=isinstance(err, (OSError, MemoryError)))
        return EXIT_ERROR, f"{type(err).__name__}: {err}"


def _command(ns, argv: list[str], events: EventWriter, world) -> int:
    apply_cpu_threads()
    if ns.command == "demo-data":
        from .demo_data import write_demo_data

        if not ns.out:
            raise InvalidInput("--out: required for demo-data", field="--out")
        for path in write_demo_data(ns.out, ns.seed):
            events.artifact("dataset", str(path))
        return 0
    if not ns.spec:
        raise InvalidInput("--spec: required", field="--spec")
    spec = load_spec(ns.spec)
    if spec.command and spec.command != ns.command:
        raise InvalidInput(f"command: spec says {spec.command!r} but the command line says {ns.command!r}",
                           field="command")
    spec.command = ns.command
    if ns.nproc < 0:
        raise InvalidInput(f"--nproc: must be positive, got {ns.nproc}", field="--nproc")
    from .launch import rendezvous_from_env

    # Only sft/dpo train across nodes; other commands run on node 0 alone, whatever the pod's environment.
    rdzv = rendezvous_from_env() if ns.command in ("sft", "dpo") and not world.distributed else None
    nodes = rdzv.nnodes if rdzv else 1
    if (ns.nproc > 1 or nodes > 1) and not world.distributed:
        if ns.command not in ("sft", "dpo"):
            raise InvalidInput(f"--nproc: only sft and dpo run data-parallel, not {ns.command}", field="--nproc")
        from .launch import launch
        from .train_args import validate_train_args

        nproc = max(ns.nproc, 1)
        validate_train_args(spec, world_size=nproc * nodes)  # a global batch that does not divide fails here, fast
        return launch(nproc, _without_nproc(argv), events, rdzv)
    return _dispatch(ns.command, spec, events, ns.resume)


def _without_nproc(argv: list[str]) -> list[str]:
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--nproc":
            skip = True
        elif not arg.startswith("--nproc="):
            out.append(arg)
    return out


if __name__ == "__main__":
    sys.exit(main())
