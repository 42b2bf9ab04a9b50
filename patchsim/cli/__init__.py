"""The ``patchsim`` command: one entry point; each command group registers its subcommands
(``register(subparsers)``) from its own module, and every failure leaves as one line."""

from __future__ import annotations

import argparse
import logging
import shlex
import signal
import sys
import threading

from patchsim.cli import attack, defence, detect, evaluate, models, photo, poison, render
from patchsim.cli.options import Parser
from patchsim.errors import Interrupted, PatchsimError, Terminated, failure_line
from patchsim.io.interrupts import last_stop_signal

log = logging.getLogger("patchsim")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="patchsim", description="Physical-world adversarial patch simulator")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for group in (render, models, attack, evaluate, photo, detect, defence, poison):  # the order of --help
        group.register(sub)
    parser.set_defaults(commands=sub.choices)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command. Exit codes: 0 done; 2 bad input (a one-line ``patchsim CMD: error: ...`` naming
    the option or field, the value and what is allowed, before any heavy work); 1 a failure while running
    (disk, decoder, an unexpected error: one line, the traceback with ``--verbose``); 130 interrupted."""
    parser = build_parser()
    try:
        args, extra = parser.parse_known_args(argv)
        if extra:  # said by the command's own parser, so the line names the command
            args.commands[args.command].error(f"unrecognized arguments: {' '.join(extra)}")
    except SystemExit as e:  # argparse has printed its one-line usage error (or the help)
        return int(e.code or 0)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(message)s")
    say = lambda msg: print(f"patchsim {args.command}: error: {msg}", file=sys.stderr)  # noqa: E731

    def terminate(signum, frame):  # SIGTERM outside a safe-stop point: unwind like Ctrl-C
        raise Terminated()

    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, terminate) if in_main else None
    try:
        return args.func(args)
    except Interrupted as e:
        print(f"patchsim {args.command}: interrupted: {e}", file=sys.stderr)
        if e.resume:
            line = list(sys.argv[1:] if argv is None else argv)
            print("continue with: patchsim " + shlex.join(line + ([] if "--resume" in line else ["--resume"])),
                  file=sys.stderr)
        return 143 if last_stop_signal() == signal.SIGTERM else 130
    except Terminated:
        print(f"patchsim {args.command}: terminated", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print(f"patchsim {args.command}: interrupted", file=sys.stderr)
        return 130
    except PatchsimError as e:
        say(e)
        return 2
    except BaseException as e:  # noqa: BLE001 -- every failure leaves as one line, never a traceback
        if isinstance(e, SystemExit):
            raise
        if args.verbose:
            logging.exception("patchsim %s failed", args.command)
        say(failure_line(e))
        return 1
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
