"""The defence commands of ``patchsim``: ``harden`` (adversarial fine-tuning) and ``certify``
(PatchCleanser's certified accuracy)."""

from __future__ import annotations

from patchsim.cli.options import device_arg, number, weights_labels_args


def register(sub) -> None:
    from patchsim.jobs.harden import HardenRecipe

    d = HardenRecipe()
    p = sub.add_parser("harden", help="adversarial fine-tuning against occlusion rectangles and rendered EOT stickers")
    p.add_argument("model", help="shipped classifier to start from (gtsrb-cnn, gtsrb-resnet), or one with --weights")
    p.add_argument("--weights", help="weights file of the starting model (default: its shipped weights)")
    p.add_argument("--out", required=True, help="weights file to write (.safetensors; the model card goes beside it)")
    p.add_argument("--scene", default="stop_driveby", help="scene whose camera, ranges, crop and sticker area the "
                   "rendered stickers use (default stop_driveby)")
    p.add_argument("--steps", type=number(1, 1_000_000, integer=True), default=d.steps,
                   help=f"fine-tuning steps (default {d.steps})")
    p.add_argument("--semantic-fraction", type=number(0.0, 1.0), default=d.semantic_fraction,
                   help="share of the bank's stickers that start from another sign's face (semantic stickers; "
                        f"default {d.semantic_fraction:g}: random colours only)")
    p.add_argument("--seed", type=number(0, 2**63 - 1, integer=True), default=0)
    p.add_argument("--data", help="folder holding GTSRB train.npz and test.npz (default ../shared/data/gtsrb)")
    p.add_argument("--limit", type=number(1, 10_000_000, integer=True), help="train on a seeded random N of the training images (smoke runs)")
    p.add_argument("--printer", default="inkjet", help="how the rendered stickers print (default inkjet)")
    p.add_argument("--resume", action="store_true", help="continue from OUT.checkpoint.pt (left by Ctrl-C)")
    device_arg(p)
    p.add_argument("--force", action="store_true", help="replace an existing --out file")
    p.set_defaults(func=_cmd_harden)

    p = sub.add_parser("certify", help="PatchCleanser's certified robust accuracy on GTSRB test and drive-by crops")
    p.add_argument("model", help="shipped classifier name, TorchScript/ONNX file or package.module:factory")
    weights_labels_args(p)
    p.add_argument("--patch-frac", type=number(0.001, 0.49), default=0.1,
                   help="largest patch certified against, as a fraction of the crop's area (default 0.1)")
    p.add_argument("--masks-per-axis", type=number(2, 16, integer=True), default=6, help="PatchCleanser masks per "
                   "axis (default 6: 36 masks)")
    p.add_argument("--every", type=number(1, 100000, integer=True), default=10,
                   help="certify every N-th GTSRB test image (default 10: 1263 images; 1: all 12630)")
    p.add_argument("--scene", default="stop_driveby", help="scene whose clean drive-by crops are certified too "
                   "('none' to skip)")
    p.add_argument("--data", help="GTSRB folder (default ../shared/data/gtsrb)")
    p.add_argument("--out", required=True, help="certify.json to write")
    p.add_argument("--force", action="store_true", help="replace --out")
    device_arg(p)
    p.set_defaults(func=_cmd_certify)


def _cmd_harden(args) -> int:
    from patchsim.jobs.harden import HardenRecipe, harden

    c = harden(args.model, args.out, weights=args.weights, scene=args.scene, seed=args.seed, data_dir=args.data,
               recipe=HardenRecipe(steps=args.steps, semantic_fraction=args.semantic_fraction), limit=args.limit, resume=args.resume, device=args.device,
               printer=args.printer, force=args.force)
    print(f"{args.out}: GTSRB test {100 * c['test_acc']:.2f}%, clean renders {100 * c['clean_render_acc']:.1f}%, "
          f"8 px occlusion attack {100 * c['roa_8px_test_acc']:.1f}%")
    return 0


def _cmd_certify(args) -> int:
    from patchsim.jobs.certify import run_certify

    r = run_certify(args.model, args.out, args.patch_frac, args.masks_per_axis, args.weights, args.labels, args.every,
                    None if args.scene.lower() == "none" else args.scene, args.data, args.device, force=args.force)
    g = r["gtsrb_test"]
    line = (f"patch {r['patch_px'][0]}x{r['patch_px'][1]} px, {r['masks']} masks; GTSRB test ({g['images']} images): "
            f"certified {100 * g['certified_accuracy']:.1f}%, defended clean {100 * g['defended_accuracy']:.1f}%, "
            f"undefended {100 * g['accuracy']:.1f}%")
    if "driveby" in r:
        d = r["driveby"]
        line += f"; drive-by ({d['images']} crops): certified {100 * d['certified_accuracy']:.1f}%"
    print(line)
    return 0
