"""The detector subcommands of ``patchsim``: detect and train-detector."""

from __future__ import annotations

from patchsim.cli.options import device_arg, number
from patchsim.models.detectors.train import FAMILIES


def detector_args(p) -> None:
    """--weights, --labels, --input-size and --score-threshold, for every command that loads a detector."""
    p.add_argument("--weights", help="weights file (sign-det, sign-yolo: default the packaged one; a factory's model)")
    p.add_argument("--labels", help="labels file for your own detector (one class name per line)")
    p.add_argument("--input-size", type=number(32, 4096, integer=True), nargs=2, metavar=("H", "W"),
                   help="input size images are fitted into (default: the model's own; ONNX files with a static shape give theirs)")
    p.add_argument("--score-threshold", type=number(0, 1), help="detection threshold in [0, 1] (default: the model's own)")


def register(sub) -> None:
    p = sub.add_parser("detect", help="run a detector on images: detections.json and annotated images")
    p.add_argument("model", help="sign-det, sign-yolo, an ultralytics YOLO export (.onnx / .torchscript) or package.module:factory")
    p.add_argument("images", nargs="+", help="image files or folders of images")
    detector_args(p)
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--force", action="store_true", help="replace what an earlier run of this command wrote to --out")
    device_arg(p)
    p.set_defaults(func=_cmd_detect)

    p = sub.add_parser("train-detector", help="train a shipped detector family from scratch on synthesised frames "
                       "(../shared/data)")
    p.add_argument("--model", default="sign-det", choices=list(FAMILIES),
                   help="the family: sign-det (CenterNet-style) or sign-yolo (YOLO-style, anchor-free)")
    p.add_argument("--out", required=True, help="weights file to write (.safetensors; the card goes beside it)")
    p.add_argument("--seed", type=number(0, 2**63 - 1, integer=True), default=0)
    p.add_argument("--steps", type=number(1, 10**7, integer=True), help="override the recipe's step count (3000)")
    p.add_argument("--data", help="shared data folder holding gtsrb/ and street/ (default ../shared/data)")
    p.add_argument("--resume", action="store_true", help="continue from OUT.checkpoint.pt (left by Ctrl-C)")
    p.add_argument("--force", action="store_true", help="replace an existing --out file")
    device_arg(p)
    p.set_defaults(func=_cmd_train_detector)


def _cmd_detect(args) -> int:
    from patchsim.jobs.detect import detect_job

    recs = detect_job(args.model, args.images, args.out, args.weights, args.labels,
                      tuple(args.input_size) if args.input_size else None, args.score_threshold, force=args.force,
                      device=args.device)
    for r in recs:
        found = ", ".join(f"{d.label} {d.score:.2f}" for d in r.detections[:5]) or "nothing"
        more = f" and {len(r.detections) - 5} more" if len(r.detections) > 5 else ""
        print(f"{r.file}: {found}{more}")
    return 0


def _cmd_train_detector(args) -> int:
    from patchsim.models.detectors.train import train_detector

    card = train_detector(args.out, seed=args.seed, steps=args.steps, data_dir=args.data, resume=args.resume,
                          device=args.device, force=args.force, model=args.model)
    for name, s in card["street"].items():
        at = s["by_threshold"][f"{card['score_threshold']:.2f}"]
        print(f"{card['model']} on {name} ({s['images']} photos, {s['stops']} stop signs): stop recall {100 * at['recall']:.1f}%, "
              f"{at['false_per_image']:.3f} false stop detections per image")
    return 0
