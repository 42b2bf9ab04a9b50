"""The ``patchsim`` command: one entry point; each command group registers its subcommands
(``register(subparsers)``) from its own module, and every failure leaves as one line."""

from __future__ import annotations

import argparse
import logging
import shlex
import sys

from patchsim.cli import attack, defence, detect, evaluate, models, photo, poison, render
from patchsim.cli.options import Parser
from patchsim.errors import Interrupted, PatchsimError, failure_line

log = logging.getLogger("patchsim")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="patchsim", description="Physical-world adversarial patch simulator")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for group in (render, models, attack, evaluate, photo, detect, defence, poison):  # the order of --help
        group.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command. Exit codes: 0 done; 2 bad input (a one-line ``patchsim CMD: error: ...`` naming
    the option or field, the value and what is allowed, before any heavy work); 1 a failure while running
    (disk, decoder, an unexpected error: one line, the traceback with ``--verbose``); 130 interrupted."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse has printed its one-line usage error (or the help)
        return int(e.code or 0)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(message)s")
    say = lambda msg: print(f"patchsim {args.command}: error: {msg}", file=sys.stderr)  # noqa: E731
    try:
        return args.func(args)
    except Interrupted as e:
        print(f"patchsim {args.command}: interrupted: {e}", file=sys.stderr)
        if e.resume:
            line = list(sys.argv[1:] if argv is None else argv)
            print("continue with: patchsim " + shlex.join(line + ([] if "--resume" in line else ["--resume"])),
                  file=sys.stderr)
        return 130
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


if __name__ == "__main__":
    sys.exit(main())


if __name__ == "__main__":
    sys.exit(main())
