"""``patchsim models``, ``classify`` and ``train``: the shipped classifiers."""

from __future__ import annotations

from patchsim.cli.options import device_arg, number, weights_labels_args


def register(sub) -> None:
    """Add ``models``, ``classify`` and ``train`` to the ``patchsim`` subparsers ``sub``."""
    _add_models(sub)


def _add_models(sub) -> None:
    p = sub.add_parser("models", help="list the shipped models with their classes and accuracy")
    p.set_defaults(func=lambda args: print(__import__("patchsim.jobs.models", fromlist=["x"]).models_table()) or 0)

    p = sub.add_parser("classify", help="print the top 3 classes for each image")
    p.add_argument("model", help="shipped model name, TorchScript/ONNX file or package.module:factory")
    p.add_argument("images", nargs="+", help="image files")
    weights_labels_args(p)
    device_arg(p)
    p.set_defaults(func=_cmd_classify)

    p = sub.add_parser("train", help="train a shipped GTSRB model from ../shared/data/gtsrb")
    p.add_argument("model", help="gtsrb-cnn or gtsrb-resnet")
    p.add_argument("--out", required=True, help="weights file to write (.safetensors; the card goes beside it)")
    p.add_argument("--seed", type=number(0, 2**63 - 1, integer=True), default=0)
    p.add_argument("--epochs", type=number(1, 1000, integer=True), help="override the recipe's epoch count")
    p.add_argument("--data", help="folder holding train.npz and test.npz (default ../shared/data/gtsrb)")
    p.add_argument("--resume", action="store_true", help="continue from OUT.checkpoint.pt (left by Ctrl-C)")
    p.add_argument("--force", action="store_true", help="replace an existing --out file")
    device_arg(p)
    p.set_defaults(func=_cmd_train)


def _cmd_classify(args) -> int:
    from patchsim.jobs.models import classify

    for path, top in classify(args.model, args.images, args.weights, args.labels, device=args.device):
        print(path + ": " + ", ".join(f"{name} {p:.3f}" for name, p in top))
    return 0


def _cmd_train(args) -> int:
    from patchsim.models.train import train_model

    c = train_model(args.model, args.out, seed=args.seed, data_dir=args.data, epochs=args.epochs,
                    resume=args.resume, device=args.device, force=args.force)
    print(f"{args.model}: test accuracy {100 * c['test_acc']:.2f}%, weights {args.out}")
    return 0
