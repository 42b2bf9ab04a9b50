"""Renderer throughput: classifier crops/s (forward + backward to the sticker) at batch 64 for 32x32 and
64x64 crops, full 1280x720 frames/s, beside one forward + backward pass of a CNN the size of RP2's
LISA-CNN at the same batch. Run: python bench/render_bench.py"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch
from torch import nn

from patchsim.render import Renderer, sample_eot
from patchsim.scene import load_scene

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results import write_result  # noqa: E402


def lisa_cnn_sized() -> nn.Module:
    """RP2's LISA-CNN layer sizes (conv 64x8x8/2, 128x6x6/2, 128x5x5/1, fc 512->18), random weights."""
    return nn.Sequential(nn.Conv2d(3, 64, 8, 2, 3), nn.ReLU(), nn.Conv2d(64, 128, 6, 2), nn.ReLU(),
                         nn.Conv2d(128, 128, 5, 1), nn.ReLU(), nn.Flatten(), nn.Linear(512, 18))


def timed(fn, repeats: int = 5) -> float:
    fn()  # warm-up (background cache, allocator)
    t = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - t) / repeats


def main() -> None:
    torch.manual_seed(0)
    scene = load_scene("stop_driveby")
    renderer = Renderer.from_scene(scene)
    g = torch.Generator().manual_seed(0)
    cond = sample_eot(scene, 64, g)
    sticker = torch.rand(1, 3, renderer.face_resolution, renderer.face_resolution, requires_grad=True)
    lines, data = [], {}

    def say(line: str) -> None:
        print(line)
        lines.append(line)

    say(f"torch {torch.__version__}, threads {torch.get_num_threads()}, batch 64, crop supersample {scene.crop.supersample}")
    for size in (32, 64):
        def step():
            sticker.grad = None
            renderer.render_crops(cond, sticker, size=size).images.sum().backward()

        t = timed(step)
        model = lisa_cnn_sized()
        x = torch.rand(64, 3, 32, 32)
        xs = torch.rand(64, 3, size, size, requires_grad=True)
        model_in = nn.functional.interpolate(xs, size=32, mode="bilinear", align_corners=False) if size != 32 else xs

        def model_step():
            xs.grad = None
            m_in = nn.functional.interpolate(xs, size=32, mode="bilinear", align_corners=False) if size != 32 else xs
            model(m_in).sum().backward()

        tm = timed(model_step, 20)
        data[f"crops_{size}"] = {"render_ms": round(t * 1000, 1), "model_ms": round(tm * 1000, 1)}
        say(f"crops {size}x{size}: render fwd+bwd {t * 1000:7.1f} ms/batch = {64 / t:7.0f} crops/s | "
              f"LISA-CNN-sized fwd+bwd {tm * 1000:6.1f} ms/batch | renderer/model = {t / tm:5.1f}x")
        del x, model_in
    frames = cond[:4]
    with torch.no_grad():
        tf = timed(lambda: renderer.render_frames(frames), 2)
    data["frame_ms"] = round(tf / 4 * 1000, 1)
    say(f"full frames 1280x720 (supersample {scene.camera.supersample}): {4 / tf:5.2f} frames/s ({tf / 4 * 1000:.0f} ms/frame)")
    write_result("render_bench", "# Renderer speed (`python bench/render_bench.py`)\n\n```\n" + "\n".join(lines) + "\n```\n"
                 "\nTarget: renderer / LISA-CNN-sized model <= 1.0x at 32 px. Timings on a shared 2-core CPU move by"
                 " +-15% from run to run; compare runs made together.\n", data)


if __name__ == "__main__":
    main()
