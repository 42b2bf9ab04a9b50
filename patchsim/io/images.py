"""Image files at the edge of the torch code: reading with clear errors and atomic writing.

Arrays here are numpy ``(H, W, C)`` uint8 RGB(A); tensors are ``(C, H, W)`` float32 in [0, 1]."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import cv2
import numpy as np
import torch

from patchsim.checks import env_limit
from patchsim.errors import PatchsimError
from patchsim.checks import missing_file


IMAGE_SUFFIXES = (".bmp", ".jpeg", ".jpg", ".png", ".tif", ".tiff", ".webp")  # every image file patchsim reads
VIDEO_SUFFIXES = (".avi", ".m4v", ".mkv", ".mov", ".mp4", ".webm")  # every video file patchsim reads


def image_files(folder: str | Path) -> list[Path]:
    """The image files (:data:`IMAGE_SUFFIXES`, any case) directly in ``folder``, in name order; a
    folder with none is a one-line error naming it and the suffixes allowed."""
    files = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise PatchsimError(f"folder {folder} holds no images ({', '.join(IMAGE_SUFFIXES)})")
    return files


DEFAULT_MAX_IMAGE_SIDE = 16384  # pixels; raise with the environment variable PATCHSIM_MAX_IMAGE_SIDE


def max_image_side() -> int:
    """The largest width or height of an image patchsim decodes (``PATCHSIM_MAX_IMAGE_SIDE``, default
    16384): a 16k x 16k RGBA image is 1 GiB decoded."""
    return env_limit("PATCHSIM_MAX_IMAGE_SIDE", DEFAULT_MAX_IMAGE_SIDE)


def image_size(path: str | Path) -> tuple[int, int]:
    """(width, height) of an image file read from its header only (nothing is decoded); an unreadable
    header is a PatchsimError naming the file."""
    from PIL import Image, UnidentifiedImageError

    Image.MAX_IMAGE_PIXELS = None  # our own limit applies (max_image_side), never a half-decoded bomb
    p = Path(path)
    if p.is_file() and not os.access(p, os.R_OK):
        raise PatchsimError(f"cannot read image {p}: permission denied")
    if p.exists() and not p.is_file():
        raise PatchsimError(f"image {p} is not a regular file (a folder, FIFO or device)")
    try:
        with Image.open(path) as im:
            return im.size
    except PermissionError:
        raise PatchsimError(f"cannot read image {p}: permission denied") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        raise PatchsimError(f"cannot decode image (corrupt or unsupported format): {path}") from e


def exif_orientation(path: str | Path) -> int:
    """The EXIF orientation tag (1-8) of an image file; 1 (as stored) when it has none or it is unreadable."""
    try:
        from PIL import Image

        with Image.open(path) as im:
            o = int(im.getexif().get(0x0112, 1))
    except Exception:  # noqa: BLE001 -- no readable EXIF: the pixels as stored
        return 1
    return o if 1 <= o <= 8 else 1


def apply_orientation(img: np.ndarray, orientation: int) -> np.ndarray:
    """``img`` ``(H, W, C)`` turned as EXIF ``orientation`` says it is displayed (Pillow's
    ``ImageOps.exif_transpose``): 2 mirror, 3 rotate 180, 4 flip, 5 transpose, 6 rotate 90 clockwise,
    7 transverse, 8 rotate 90 counter-clockwise."""
    t = np.transpose(img, (1, 0, 2))
    out = {1: img, 2: img[:, ::-1], 3: img[::-1, ::-1], 4: img[::-1], 5: t, 6: np.rot90(img, -1),
           7: t[::-1, ::-1], 8: np.rot90(img, 1)}[orientation]
    return np.ascontiguousarray(out)


def read_image(path: str | Path, alpha: bool = False) -> np.ndarray:
    """Read an image file as uint8 RGB ``(H, W, 3)``, or RGBA ``(H, W, 4)`` when ``alpha`` (an image
    without alpha gets alpha 255), upright as it is displayed (its EXIF orientation applied). 16-bit
    images are scaled to 8 bits. Raises PatchsimError naming the file if missing, undecodable, a
    floating-point (HDR) image, or larger than :func:`max_image_side` on a side (checked from the header,
    before decoding)."""
    p = Path(path)
    if not p.is_file():
        raise missing_file(p, "image file")
    w, h = image_size(p)
    limit = max_image_side()
    if max(w, h) > limit:
        raise PatchsimError(f"image {p} is {w} x {h} pixels: larger than the limit of {limit} on a side "
                            "(raise it with PATCHSIM_MAX_IMAGE_SIDE)")
    data = np.fromfile(str(p), dtype=np.uint8)
    img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if img is None:
        raise PatchsimError(f"cannot decode image (corrupt or unsupported format): {p}")
    if img.dtype == np.uint16:
        img = (img / 257.0 + 0.5).astype(np.uint8)
    elif img.dtype != np.uint8:
        raise PatchsimError(f"image {p} holds {img.dtype} samples (an HDR or floating-point image); patchsim reads "
                            "8- or 16-bit images: convert it to 8-bit sRGB (PNG or JPEG)")
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    if img.shape[2] == 4:
        rgba = cv2.cvtColor(img, cv2.COLOR_BGRA2RGBA)
    else:
        rgba = np.concatenate([cv2.cvtColor(img[:, :, :3], cv2.COLOR_BGR2RGB),
                               np.full(img.shape[:2] + (1,), 255, np.uint8)], axis=2)
    rgba = apply_orientation(rgba, exif_orientation(p))
    return rgba if alpha else np.ascontiguousarray(rgba[:, :, :3])


def resize(img: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize an image array: area averaging when shrinking, bilinear when enlarging."""
    shrink = img.shape[1] > width or img.shape[0] > height
    return cv2.resize(img, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def check_square(img: np.ndarray, path, what: str) -> None:
    """Raise PatchsimError unless ``img`` is square within 2% (an image of the face's bounding square)."""
    h, w = img.shape[:2]
    if abs(h - w) > 0.02 * max(h, w):
        raise PatchsimError(f"{path}: {what} must be square (the face's bounding square), got {w}x{h}")


def to_tensor(img: np.ndarray) -> torch.Tensor:
    """uint8 ``(H, W, C)`` -> float32 ``(C, H, W)`` in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1).float().div(255.0)


def to_uint8(t: torch.Tensor) -> np.ndarray:
    """float ``(C, H, W)`` in [0, 1] -> uint8 ``(H, W, C)`` (rounded, clipped)."""
    return (t.detach().clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).cpu().numpy())


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temp file in the same folder and a rename: never half-written."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=str(p.parent))
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600 files; give the usual permissions
        os.replace(tmp, p)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def pyplot():
    """``matplotlib.pyplot`` on the non-interactive Agg backend: the one place that chooses it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: str | Path, dpi: int = 110) -> None:
    """Atomically write a matplotlib figure as PNG."""
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    atomic_write_bytes(path, buf.getvalue())


def write_png(path: str | Path, img: np.ndarray | torch.Tensor, dpi: float | None = None) -> None:
    """Atomically write an RGB(A) image (uint8 HWC array or float CHW tensor) as PNG. ``dpi`` adds a
    pHYs chunk so that printers size the image physically."""
    arr = to_uint8(img) if isinstance(img, torch.Tensor) else img
    if arr.ndim == 2:
        arr = arr[:, :, None].repeat(3, axis=2)
    if arr.shape[0] * arr.shape[1] > 4_000_000:  # print files: PIL encodes RGBA as it is (no BGR copy), fast
        import io

        from PIL import Image

        buf = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(arr)).save(buf, format="PNG", compress_level=1)
        data = buf.getvalue()
    else:
        code = cv2.COLOR_RGBA2BGRA if arr.shape[2] == 4 else cv2.COLOR_RGB2BGR
        ok, enc = cv2.imencode(".png", cv2.cvtColor(arr, code), [cv2.IMWRITE_PNG_COMPRESSION, 3])
        if not ok:
            raise PatchsimError(f"PNG encoding failed for {path}")
        data = enc.tobytes()
    if dpi is not None:
        data = _with_phys(data, dpi)
    atomic_write_bytes(path, data)


def write_jpeg(path: str | Path, img: np.ndarray, quality: int = 90) -> None:
    """Atomically write a uint8 RGB image ``(H, W, 3)`` as JPEG."""
    ok, enc = cv2.imencode(".jpg", cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise PatchsimError(f"JPEG encoding failed for {path}")
    atomic_write_bytes(path, enc.tobytes())


def jpeg_round_trip(img: np.ndarray, quality: int) -> np.ndarray:
    """A uint8 RGB image ``(H, W, 3)`` encoded as baseline JPEG (OpenCV / libjpeg, 4:2:0) at ``quality``
    (1-100) and decoded again: what a camera or a JPEG defence hands on."""
    ok, enc = cv2.imencode(".jpg", cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise PatchsimError("JPEG encoding failed")
    return cv2.cvtColor(cv2.imdecode(enc, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def _with_phys(png: bytes, dpi: float) -> bytes:
    """Insert a pHYs chunk (pixels per metre) right after IHDR."""
    import struct
    import zlib

    ppm = int(round(dpi / 0.0254))
    body = b"pHYs" + struct.pack(">IIB", ppm, ppm, 1)
    chunk = struct.pack(">I", 9) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)
    ihdr_end = 8 + 4 + 4 + 13 + 4
    return png[:ihdr_end] + chunk + png[ihdr_end:]
