"""The ``patchsim`` command: one entry point with subcommands."""

from __future__ import annotations

import argparse
import logging
import sys

from patchsim.errors import PatchsimError

log = logging.getLogger("patchsim")


def _add_render(sub) -> None:
    p = sub.add_parser("render", help="render frames and classifier crops of a scene")
    p.add_argument("scene", help="scene YAML file, or the name of a packaged scene (stop_driveby, stop_lab)")
    p.add_argument("--sticker", help="sticker PNG (RGB or RGBA covering the face's bounding square)")
    p.add_argument("--n", type=int, default=8, help="number of frames (default 8)")
    p.add_argument("--seed", type=int, default=0, help="sampler seed (default 0)")
    p.add_argument("--mode", choices=["eot", "driveby", "grid"], default="eot",
                   help="conditions: random EOT draws, the drive-by sequence (every k-th frame to give N), or the grid")
    p.add_argument("--out", required=True, help="output folder")
    p.set_defaults(func=_cmd_render)


def _cmd_render(args) -> int:
    from patchsim.render_job import render_job

    render_job(args.scene, args.out, n=args.n, seed=args.seed, sticker_path=args.sticker, mode=args.mode)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="patchsim", description="Physical-world adversarial patch simulator")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_render(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(message)s")
    try:
        return args.func(args)
    except PatchsimError as e:
        print(f"patchsim {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
