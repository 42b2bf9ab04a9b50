"""``patchsim inspect-data``: look for poisoned images in a training set through the trained model's
penultimate features: spectral signatures (Tran et al. 2018) and activation clustering (Chen et al.
2018), per trained label (:mod:`patchsim.defences.data_inspection`). With the true ``poisoned`` flags in
the data file, precision and recall of what each method flags."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from patchsim.defences.data_inspection import activation_clusters, cluster_flags, precision_recall, spectral_flags
from patchsim.errors import PatchsimError
from patchsim.io.images import atomic_write_bytes
from patchsim.records import json_bytes
from patchsim.device import model_device, resolve_device
from patchsim.io.outputs import check_output_file
from patchsim.io.arrays import check_labelled_images, load_npz


def penultimate_features(model: nn.Module, x: np.ndarray, batch: int = 1024) -> torch.Tensor:
    """float32 ``(N, D)``: the input of the model's last linear layer (its penultimate features) for
    uint8 images ``x`` ``(N, H, W, 3)``, in eval mode."""

    last = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not last:
        raise PatchsimError("inspect-data needs a model whose last layer is torch.nn.Linear (a shipped model or a "
                            "package.module:factory one); TorchScript / ONNX models hide their layers")
    got: list[torch.Tensor] = []
    hook = last[-1].register_forward_pre_hook(lambda _m, inp: got.append(inp[0].detach().flatten(1).cpu()))
    dev = model_device(model)
    model.eval()
    try:
        with torch.no_grad():
            for i in range(0, len(x), batch):
                model(torch.from_numpy(x[i:i + batch]).to(dev).permute(0, 3, 1, 2).float() / 255)
    finally:
        hook.remove()
    return torch.cat(got).float()


def load_training_split(path: str | Path) -> dict[str, np.ndarray]:
    """``x`` uint8 (N, 32, 32, 3), ``y`` (N,), and ``poisoned`` (N,) bool and ``track`` (N,) ids (GTSRB's
    physical signs) when present, from an .npz."""
    p = Path(path)
    if not p.is_file() or p.suffix.lower() != ".npz":
        raise PatchsimError(f"--data {p} is invalid: an .npz with x (N, 32, 32, 3) uint8 and y (N,), as `patchsim "
                            "poison --data-only` writes")
    d = load_npz(p, "--data")
    check_labelled_images(d, f"--data {p}", None)
    return {k: v for k, v in d.items() if k in ("x", "y", "poisoned", "track")}


def inspect_features(features: torch.Tensor, labels: np.ndarray, poisoned: np.ndarray | None, eps: float,
                     min_silhouette: float = 0.0, seed: int = 0, track: np.ndarray | None = None) -> dict:
    """Both methods on ``features`` ``(N, D)`` with trained ``labels`` ``(N,)``. Returns ``methods``: per
    method the flags' count, precision / recall against ``poisoned`` (None: unknown) and the flagged
    count per class; ``classes``: per class its images, poisoned images (when known), spectral flags,
    and activation clustering's smaller-cluster share and silhouette, sorted by silhouette (the
    clearest split first: where a poisoned class should rank). With ``track`` ``(N,)`` (the physical sign
    each image shows), each class also says how many signs its smaller cluster spans: a natural cluster
    is often one sign photographed 30 times, poison is spread over many."""
    lab = torch.from_numpy(np.asarray(labels, np.int64))
    clusters = activation_clusters(features, lab, seed=seed)
    ac = cluster_flags(clusters, len(lab), min_silhouette=min_silhouette)
    spectral = spectral_flags(features, lab, eps)
    truth = torch.from_numpy(poisoned) if poisoned is not None else None
    methods = {}
    for name, flags in (("spectral_signatures", spectral), ("activation_clustering", ac)):
        m = precision_recall(flags, truth) if truth is not None else \
            {"flagged": int(flags.sum()), "poisoned": None, "precision": None, "recall": None}
        by_class = np.bincount(lab.numpy()[flags.numpy()], minlength=int(lab.max()) + 1)
        m["flagged_by_class"] = {int(c): int(n) for c, n in enumerate(by_class) if n}
        methods[name] = m
    classes = []
    for c, (members, share, sil) in clusters.items():
        in_c = lab == c
        row = {"class": c, "images": int(in_c.sum()), "spectral_flagged": int((spectral & in_c).sum()),
               "cluster_share": round(share, 4), "silhouette": round(sil, 4), "cluster_flagged": bool(ac[members].any())}
        if track is not None:
            row["small_cluster_signs"] = int(np.unique(np.asarray(track)[members.numpy()]).size)
        if truth is not None:
            row["poisoned"] = int((truth & in_c).sum())
            row["poisoned_in_small_cluster"] = int(truth[members].sum())
        classes.append(row)
    classes.sort(key=lambda r: -r["silhouette"])
    return {"methods": methods, "classes": classes}


def run_inspect(model: str, data: str | Path, weights=None, labels=None, eps: float = 0.1, classes: str | None = None,
                out: str | Path | None = None, device: str = "auto", min_silhouette: float = 0.0,
                force: bool = False) -> dict:
    """Load the model and the training split, extract features, run both methods; write ``out`` (JSON)
    when given. Returns the result."""
    from patchsim.models import load_model, model_file
    from patchsim.models.classes import resolve_class

    if out is not None:
        check_output_file(out, inputs=(data, weights, labels, model_file(model)),
                          force=force)
    split = load_training_split(data)

    net = load_model(model, weights, labels).to(resolve_device(device))
    names = list(net.classes)
    check_labelled_images(split, f"--data {data}", len(names))  # the labels are this model's classes
    y = np.asarray(split["y"], np.int64)
    keep = np.ones(len(y), bool)
    if classes:
        wanted = [resolve_class(names, c.strip(), "--classes") for c in classes.split(",") if c.strip()]
        keep = np.isin(y, wanted)
    feats = penultimate_features(net, split["x"][keep])
    poisoned = split.get("poisoned")
    result = {"model": model, "weights": str(weights) if weights else None, "data": str(data), "images": int(keep.sum()),
              "eps": eps, "feature_dim": int(feats.shape[1]),
              "min_silhouette": min_silhouette}
    track = split.get("track")
    result.update(inspect_features(feats, y[keep], poisoned[keep] if poisoned is not None else None, eps, min_silhouette,
                                   track=track[keep] if track is not None else None))
    name = lambda c: names[c] if c < len(names) else str(c)  # noqa: E731
    for m in result["methods"].values():
        m["flagged_by_class"] = {name(c): n for c, n in m["flagged_by_class"].items()}
    for row in result["classes"]:
        row["class"] = name(row["class"])
    if out is not None:
        atomic_write_bytes(out, json_bytes(result))
    return result
