"""``patchsim render``: frames and classifier crops of a scene."""

from __future__ import annotations

from patchsim.cli.options import device_arg, number


def register(sub) -> None:
    """Add ``render`` to the ``patchsim`` subparsers ``sub``."""
    _add_render(sub)


def _add_render(sub) -> None:
    p = sub.add_parser("render", help="render frames and classifier crops of a scene")
    p.add_argument("scene", help="scene YAML file, or the name of a packaged scene (stop_driveby, stop_lab)")
    p.add_argument("--sticker", help="sticker PNG (RGB or RGBA covering the face's bounding square)")
    p.add_argument("--n", type=number(1, 10000, integer=True), default=8, help="number of frames (default 8)")
    p.add_argument("--seed", type=number(0, 2**63 - 1, integer=True), default=0, help="sampler seed (default 0)")
    p.add_argument("--mode", choices=["eot", "driveby", "grid"], default="eot",
                   help="conditions: random EOT draws, the drive-by sequence (every k-th frame to give N), or the grid")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--force", action="store_true", help="replace what an earlier run of this command wrote to --out")
    device_arg(p)
    p.set_defaults(func=_cmd_render)


def _cmd_render(args) -> int:
    from patchsim.jobs.render import render_job

    render_job(args.scene, args.out, n=args.n, seed=args.seed, sticker_path=args.sticker, mode=args.mode,
               force=args.force, device=args.device)
    return 0
