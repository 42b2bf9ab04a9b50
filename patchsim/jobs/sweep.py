"""``patchsim sweep``: evaluate every scene x model x sticker x seed, locally (in order) or on a Ray
cluster (``--ray ADDRESS``; Ray is an optional extra), into one results table and a summary plot."""

from __future__ import annotations

import itertools
import logging
from pathlib import Path

from patchsim.errors import PatchsimError
from patchsim.evaluate import report
from patchsim.io.images import image_size, pyplot, save_figure
from patchsim.io.outputs import writes_folder
from patchsim.device import resolve_device
from patchsim.models import load_model
from patchsim.scene import load_scene

log = logging.getLogger(__name__)


def _job(scene: str, model: str, sticker: str | None, seed: int, out: str, mode: str, device: str = "auto",
         force: bool = False) -> dict:
    """One evaluation; ``model`` is a model name or ``name@weights``; ``force``: the sweep's ``--force``
    (the run's folder may hold files that are not the sweep's, which stay)."""
    from patchsim.jobs.evaluate import EvaluateRequest, run_evaluate

    name, _, weights = model.partition("@")
    req = EvaluateRequest(load_scene(scene), sticker, name, weights or None, mode=mode, seed=seed, video=False,
                          device=device, target_from_sticker=True)
    s = run_evaluate(req, out, progress=False, force=force)
    a, c = s.metrics["attacked"], s.metrics["clean"]
    return {"scene": scene, "model": model, "sticker": sticker or "", "seed": seed, "mode": mode, "frames": s.header.frames,
            "target": s.header.target or "", "clean_fooled": c.success, "attacked_fooled": a.success,
            "attacked_k_of_n": a.k_of_n.success, "attacked_ema": a.ema.success, "attacked_flip_rate": a.flip_rate,
            "longest_streak_frames": a.longest_fooled_streak.frames,
            "flow_detection": s.consistency["flow"].detection_rate,
            "flow_false_alarm": s.consistency["flow"].false_alarm_rate, "out": out}


@writes_folder("sweep", ("results.csv", "summary.png", "run[0-9][0-9][0-9]"))
def run_sweep(scenes: list[str], models: list[str], stickers: list[str | None], seeds: list[int], out: str | Path,
              mode: str = "driveby", ray_address: str | None = None, force: bool = False,
              device: str | None = "auto") -> list[dict]:
    """Run the grid of evaluations; writes ``results.csv`` and ``summary.png`` into ``out``."""
    out = Path(out)
    combos = list(itertools.product(scenes, models, stickers or [None], seeds))
    if not combos:
        raise PatchsimError("sweep: nothing to run")
    for sc in scenes:  # every input checked before the first evaluation starts
        sec = load_scene(sc)
        if getattr(sec, mode) is None:
            raise PatchsimError(f"--scenes {sc}: the scene has no {mode!r} section (--mode {mode})")
    for st in stickers or []:
        if st is not None:
            if not Path(st).is_file():
                raise PatchsimError(f"--stickers {st}: file not found")
            image_size(st)

    for mo in dict.fromkeys(models):  # each model loads (name, weights) before the first run, not in the middle
        name, _, weights = mo.partition("@")
        load_model(name, weights or None)
    resolve_device(device)  # checked here, before the first run (each worker resolves it again)
    args = [(sc, mo, st, sd, str(out / f"run{i:03d}"), mode, device or "auto", force)
            for i, (sc, mo, st, sd) in enumerate(combos)]
    if ray_address:
        try:
            import ray
        except ImportError as e:
            raise PatchsimError("--ray needs Ray: pip install 'patchsim[ray]'") from e
        _reachable(ray_address)
        ray.init(address=ray_address)
        remote = ray.remote(_job)
        rows = ray.get([remote.remote(*a) for a in args])
    else:
        rows = []
        for a in args:
            log.info("sweep %d/%d: %s %s %s seed %d", len(rows) + 1, len(args), *a[:4])
            rows.append(_job(*a))
    report.write_frames_csv(out / "results.csv", rows)
    _plot(out / "summary.png", rows)
    return rows


RAY_CONNECT_TIMEOUT_S = 5.0


def _reachable(address: str, timeout: float = RAY_CONNECT_TIMEOUT_S) -> None:
    """Refuse a Ray ``host:port`` (or ``ray://host:port``) that does not accept a TCP connection within
    ``timeout`` seconds, instead of waiting in Ray's retry loop; ``auto`` and ``local`` are left to Ray."""
    import socket

    if address in ("auto", "local"):
        return
    hostport = address.split("://", 1)[-1]
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise PatchsimError(f"--ray {address!r} is invalid: give HOST:PORT, ray://HOST:PORT or auto")
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as e:
        raise PatchsimError(f"--ray {address}: no Ray head answers there within {timeout:g} s ({e.strerror or e})") from None


def _plot(path: Path, rows: list[dict]) -> None:
    plt = pyplot()

    labels = [f"{Path(r['scene']).stem}\n{r['model']}\n{Path(r['sticker']).parent.name or 'clean'} s{r['seed']}" for r in rows]
    fig, ax = plt.subplots(figsize=(max(5, 1.2 * len(rows)), 3.5))
    x = range(len(rows))
    ax.bar([i - 0.2 for i in x], [100 * r["attacked_fooled"] for r in rows], 0.4, color="tab:red", label="per frame")
    ax.bar([i + 0.2 for i in x], [100 * r["attacked_k_of_n"] for r in rows], 0.4, color="tab:orange", label="k-of-n")
    ax.set_xticks(list(x), labels, fontsize=6)
    ax.set_ylabel("attacked: fooled frames (%)")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)
