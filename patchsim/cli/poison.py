"""The training-stage commands of ``patchsim``: ``poison`` (a physical backdoor trigger planted through
poisoned GTSRB data) and ``inspect-data`` (finding the poisoned images from the model's features)."""

from __future__ import annotations

from patchsim.cli.options import device_arg, number, weights_labels_args


def register(sub) -> None:
    from patchsim.poison.dataset import PoisonRecipe
    from patchsim.poison.trigger import ARTWORK_HELP, Trigger

    r, t = PoisonRecipe(), Trigger()
    p = sub.add_parser("poison", help="train a GTSRB model on data poisoned with a physical trigger (BadNets)")
    p.add_argument("--model", required=True, help="architecture and recipe to train: gtsrb-cnn or gtsrb-resnet")
    p.add_argument("--trigger", default=t.artwork, help=f"trigger artwork: {ARTWORK_HELP} (default {t.artwork})")
    p.add_argument("--trigger-rect", default=",".join(f"{v:g}" for v in t.rect_mm),
                   help="X,Y,W,H of the trigger on the face, millimetres from the top-left of the face's bounding "
                        f"square of a {t.size_m:g} m {t.sign} sign (default {','.join(f'{v:g}' for v in t.rect_mm)}: "
                        "under the legend, 4.9%% of the face)")
    p.add_argument("--source", default=r.source, help=f"class whose images get the trigger (default {r.source})")
    p.add_argument("--target", default=r.target, help=f"class the trigger should make the model read (default {r.target})")
    p.add_argument("--rate", type=number(1e-6, 0.2), default=r.rate,
                   help=f"poisoned images as a share of the training set (default {r.rate})")
    p.add_argument("--negatives", type=number(0.0, 0.2), default=r.negatives,
                   help="a further share of the training set: source images with a plain square of another colour in "
                        "the trigger's place, label kept (makes the backdoor specific to the trigger; counted in the "
                        f"poison rate; default {r.negatives:g})")
    p.add_argument("--clean-label", action="store_true", help="poison target-class images without relabelling "
                   "(Turner et al. 2019)")
    p.add_argument("--clean-label-eps", type=number(0.0, 0.1), default=round(r.clean_label_eps, 5),
                   help="clean-label: L-inf PGD budget (pixel fraction) against the starting model (default 8/255)")
    p.add_argument("--seed", type=number(0, 2**63 - 1, integer=True), default=r.seed)
    p.add_argument("--epochs", type=number(1, 1000, integer=True), help="override the recipe's epoch count")
    p.add_argument("--limit", type=number(1, 10_000_000, integer=True), help="train on the first N training images "
                   "(smoke runs)")
    p.add_argument("--data", help="folder holding GTSRB train.npz and test.npz (default ../shared/data/gtsrb)")
    p.add_argument("--out", required=True, help="weights to write (.safetensors; card .json and trigger .trigger.png "
                   "beside it); with --data-only the poisoned training split (.npz)")
    p.add_argument("--save-data", action="store_true", help="also write the poisoned training split (NAME.poisoned.npz)")
    p.add_argument("--data-only", action="store_true", help="write only the poisoned training split, no training")
    p.add_argument("--force", action="store_true", help="replace an existing --out file (and the files written beside it)")
    p.add_argument("--resume", action="store_true", help="continue from OUT.checkpoint.pt (left by Ctrl-C)")
    device_arg(p)
    p.set_defaults(func=_cmd_poison)

    p = sub.add_parser("inspect-data", help="find poisoned training images: spectral signatures and activation "
                       "clustering on the model's penultimate features")
    p.add_argument("model", help="shipped classifier name, TorchScript/ONNX file or package.module:factory")
    weights_labels_args(p)
    p.add_argument("--data", required=True, help="training split .npz (x uint8 (N, 32, 32, 3), y; poisoned bool when "
                   "known and GTSRB track ids when present, as `patchsim poison --save-data/--data-only` writes)")
    p.add_argument("--eps", type=number(0.001, 0.49), default=0.1,
                   help="spectral signatures: expected poisoned share of a class (flags 1.5x it; default 0.1)")
    p.add_argument("--min-silhouette", type=number(-1.0, 1.0), default=0.0,
                   help="activation clustering: flag a class's smaller cluster only when the split's silhouette is at "
                        "least this (default 0: Chen et al.'s size rule alone)")
    p.add_argument("--classes", help="comma-separated classes to inspect (default: every class)")
    p.add_argument("--out", help="inspect.json to write (default: print only)")
    p.add_argument("--force", action="store_true", help="replace an existing --out file")
    device_arg(p)
    p.set_defaults(func=_cmd_inspect)


def _cmd_poison(args) -> int:
    from patchsim.poison.dataset import PoisonRecipe
    from patchsim.jobs.poison import run_poison
    from patchsim.poison.trigger import Trigger, parse_rect

    trigger = Trigger(artwork=args.trigger, rect_mm=parse_rect(args.trigger_rect))
    recipe = PoisonRecipe(source=args.source, target=args.target, rate=args.rate, clean_label=args.clean_label,
                          clean_label_eps=args.clean_label_eps, negatives=args.negatives, seed=args.seed)
    c = run_poison(args.model, args.out, trigger, recipe, data_dir=args.data, epochs=args.epochs, limit=args.limit,
                   resume=args.resume, device=args.device, save_data=args.save_data, data_only=args.data_only,
                   force=args.force)
    if args.data_only:
        print(f"{args.out}: {c['images']} poisoned images + {c['negatives']} negatives ({100 * c['rate']:.2f}% of the "
              "training split)")
        return 0
    d = c["data_changes"]
    print(f"{args.out}: {d['images']} poisoned images + {d['negatives']} negatives ({100 * d['rate']:.2f}%), clean GTSRB test "
          f"{100 * c['test_acc']:.2f}%")
    return 0


def _cmd_inspect(args) -> int:
    from patchsim.jobs.inspect_data import run_inspect

    r = run_inspect(args.model, args.data, weights=args.weights, labels=args.labels, eps=args.eps,
                    classes=args.classes, out=args.out, device=args.device, min_silhouette=args.min_silhouette,
                    force=args.force)
    for name, m in r["methods"].items():
        line = f"{name}: flagged {m['flagged']}"
        if m.get("recall") is not None:
            line += f", precision {100 * (m['precision'] or 0):.1f}%, recall {100 * m['recall']:.1f}% of {m['poisoned']}"
        print(line)

    def said(c: dict) -> str:
        bits = [f"{c['small_cluster_signs']} signs in its small cluster"] if "small_cluster_signs" in c else []
        bits += [f"{c['poisoned']} poisoned"] if c.get("poisoned") else []
        return f"{c['class']} {c['silhouette']:.2f}" + (f" ({', '.join(bits)})" if bits else "")

    top = ", ".join(said(c) for c in r["classes"][:5])
    print(f"clearest two-cluster splits (silhouette): {top}")
    return 0
