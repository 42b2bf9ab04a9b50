"""Finding poisoned training images from a model's features (for issue 16's ``patchsim inspect-data``):
spectral signatures (Tran et al., NeurIPS 2018) and activation clustering (Chen et al., 2018).

Features are ``(N, D)`` float tensors (e.g. the penultimate layer for each training image), labels
``(N,)`` int64 (the labels the model was trained with, poisoned ones included). Both methods work per
class: a backdoor's poisoned images share one label and one extra feature (the trigger), so within that
class they separate from the clean images along one direction."""

from __future__ import annotations

import torch

from patchsim.checks import check_shape
from patchsim.errors import PatchsimError


def spectral_scores(features: torch.Tensor) -> torch.Tensor:
    """Outlier scores ``(N,)`` of one class's ``features`` ``(N, D)``: the squared projection of each
    centred feature on the top singular vector of the centred matrix (Tran et al.'s score)."""
    check_shape(features, ["N", "D"], "features")
    if len(features) < 2:
        return torch.zeros(len(features))
    centred = features.double() - features.double().mean(0)
    _, _, vh = torch.linalg.svd(centred, full_matrices=False)
    return (centred @ vh[0]).pow(2).float()


def spectral_flags(features: torch.Tensor, labels: torch.Tensor, eps: float) -> torch.Tensor:
    """Bool ``(N,)``: per class, the ``1.5 * eps`` fraction of images with the highest spectral score
    (``eps``: the expected poison fraction of a class, as in Tran et al.)."""
    check_shape(labels, [features.shape[0]], "labels")
    if not 0 < eps < 0.5:
        raise PatchsimError(f"spectral signatures: eps = {eps} is invalid: the expected poison fraction, in (0, 0.5)")
    flags = torch.zeros(len(labels), dtype=torch.bool)
    for c in labels.unique():
        idx = torch.nonzero(labels == c).flatten()
        k = int(round(1.5 * eps * len(idx)))
        if k:
            flags[idx[spectral_scores(features[idx]).topk(min(k, len(idx))).indices]] = True
    return flags


def two_means(x: torch.Tensor, g: torch.Generator, iters: int = 50) -> torch.Tensor:
    """k-means with k = 2 on ``x`` ``(N, d)`` (k-means++ start from ``g``): cluster ids ``(N,)`` int64."""
    first = x[torch.randint(len(x), (1,), generator=g)]
    d = (x - first).pow(2).sum(1)
    second = x[torch.multinomial(d / d.sum(), 1, generator=g)] if float(d.sum()) > 0 else first
    centres = torch.cat([first, second])
    assign = torch.zeros(len(x), dtype=torch.int64)
    for _ in range(iters):
        new = torch.cdist(x, centres).argmin(1)
        if torch.equal(new, assign) and _:
            break
        assign = new
        for j in range(2):
            if (assign == j).any():
                centres[j] = x[assign == j].mean(0)
    return assign


def silhouette(x: torch.Tensor, assign: torch.Tensor, g: torch.Generator, max_points: int = 600) -> float:
    """Mean silhouette coefficient in [-1, 1] of the two-cluster split ``assign`` ``(N,)`` of points ``x``
    ``(N, d)`` (Euclidean; on a seeded sample of at most ``max_points``). 0 when one cluster is empty."""
    if len(x) > max_points:
        keep = torch.randperm(len(x), generator=g)[:max_points]
        x, assign = x[keep], assign[keep]
    if assign.unique().numel() < 2:
        return 0.0
    d = torch.cdist(x.double(), x.double())
    same = assign[:, None] == assign[None, :]
    n_same = same.sum(1) - 1
    a = (d * same).sum(1) / n_same.clamp(min=1)
    b = (d * ~same).sum(1) / (~same).sum(1).clamp(min=1)
    s = torch.where(n_same > 0, (b - a) / torch.maximum(a, b).clamp(min=1e-12), torch.zeros_like(a))
    return float(s.mean())


def activation_clusters(features: torch.Tensor, labels: torch.Tensor, dims: int = 10, seed: int = 0) -> dict:
    """Per class with at least 4 images: ``{label: (members of the smaller cluster (K,) int64, its share of
    the class, the split's silhouette)}``: the class's centred features reduced to ``dims`` principal
    components and split by 2-means (Chen et al.; PCA in place of their ICA)."""
    check_shape(features, ["N", "D"], "features")
    check_shape(labels, [features.shape[0]], "labels")
    g = torch.Generator().manual_seed(seed)
    out = {}
    for c in labels.unique():
        idx = torch.nonzero(labels == c).flatten()
        if len(idx) < 4:
            continue
        x = features[idx].double()
        x = x - x.mean(0)
        _, _, vh = torch.linalg.svd(x, full_matrices=False)
        z = (x @ vh[:dims].T).float()
        assign = two_means(z, g)
        small = int((assign == 1).sum() < (assign == 0).sum())
        out[int(c)] = (idx[assign == small], float((assign == small).float().mean()), silhouette(z, assign, g))
    return out


def cluster_flags(clusters: dict, n: int, max_share: float = 0.35, min_silhouette: float = 0.0) -> torch.Tensor:
    """Bool ``(n,)`` from :func:`activation_clusters`' result: a class's smaller cluster is flagged when it
    holds at most ``max_share`` of the class (Chen et al.'s relative-size rule) and the split's silhouette
    is at least ``min_silhouette`` (how clearly the class falls in two)."""
    flags = torch.zeros(n, dtype=torch.bool)
    for members, share, sil in clusters.values():
        if share <= max_share and sil >= min_silhouette:
            flags[members] = True
    return flags


def activation_cluster_flags(features: torch.Tensor, labels: torch.Tensor, dims: int = 10, max_share: float = 0.35,
                             min_silhouette: float = 0.0, seed: int = 0) -> torch.Tensor:
    """Bool ``(N,)``: activation clustering, :func:`activation_clusters` flagged by :func:`cluster_flags`."""
    return cluster_flags(activation_clusters(features, labels, dims, seed), len(labels), max_share, min_silhouette)


def precision_recall(flagged: torch.Tensor, poisoned: torch.Tensor) -> dict:
    """{flagged, poisoned, precision, recall} of bool ``flagged`` against the true ``poisoned`` ``(N,)``."""
    tp = int((flagged & poisoned).sum())
    nf, npois = int(flagged.sum()), int(poisoned.sum())
    return {"flagged": nf, "poisoned": npois, "precision": tp / nf if nf else None,
            "recall": tp / npois if npois else None}
