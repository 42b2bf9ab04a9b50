"""Training frames for ``sign-det``, synthesised from the catalogue, real GTSRB sign crops and
backgrounds (patchsim's procedural roadside, plus the attacker street photos ``street:praveen-train``
with their real stop signs labelled). Never the scoring photos (asadi, praveen test / valid).

A frame is a uint8 RGB canvas with 0-4 signs pasted in perspective (yaw up to 65 deg), lit, with posts,
distractors (red blobs, white boards with dark strokes), then camera effects (blur, noise, gamma, colour
cast, JPEG). Labels are tight boxes of each pasted sign's visible silhouette. Everything is drawn from
one ``numpy.random.Generator``: a seed gives the same frames."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from patchsim.errors import PatchsimError
from patchsim.models.detectors.signdet import SIGN_DET_CLASSES
from patchsim.io.images import read_image

# GTSRB class id -> sign-det class; silhouette of each GTSRB class
GTSRB_TO_DET = {14: "stop", 13: "yield", 17: "no_entry", 12: "priority_road", **{i: "speed_limit" for i in range(9)}}
TRIANGLE_UP = {11, *range(18, 32)}
CATALOGUE = {"stop": ["stop"], "yield": ["yield"], "no_entry": ["no_entry"], "priority_road": ["priority_road"],
             "speed_limit": ["speed_limit_30", "speed_limit_50", "speed_limit_80"]}
CLASS_WEIGHTS = {"stop": 0.45, "yield": 0.09, "no_entry": 0.09, "priority_road": 0.09, "speed_limit": 0.12,
                 "other_sign": 0.16}


def _silhouette(gtsrb_id: int, n: int) -> np.ndarray:
    """uint8 alpha ``(n, n)`` of a GTSRB class's shape filling the square."""
    from patchsim.signs.catalogue import draw_face_array

    if gtsrb_id == 14:
        return draw_face_array("stop", n)[..., 3]
    if gtsrb_id == 13:
        return draw_face_array("yield", n)[..., 3]
    if gtsrb_id == 12:
        return draw_face_array("priority_road", n)[..., 3]
    a = np.zeros((n * 4, n * 4), np.uint8)
    if gtsrb_id in TRIANGLE_UP:
        pts = np.array([[n * 2, 2], [n * 4 - 3, n * 4 - 8], [2, n * 4 - 8]], np.int32)
        cv2.fillConvexPoly(a, pts, 255, cv2.LINE_AA)
    else:
        cv2.circle(a, (n * 2, n * 2), n * 2 - 2, 255, -1, cv2.LINE_AA)
    return cv2.resize(a, (n, n), interpolation=cv2.INTER_AREA)


@dataclass
class SignTextures:
    """Sign faces by sign-det class: lists of uint8 RGBA ``(n, n, 4)`` over each face's bounding square."""

    faces: dict[str, list[np.ndarray]]

    @classmethod
    def build(cls, gtsrb_dir: Path | None, per_class: int = 400, seed: int = 0, photo_stop: Path | None = None) -> "SignTextures":
        from patchsim.signs.catalogue import draw_face_array

        faces: dict[str, list[np.ndarray]] = {c: [] for c in SIGN_DET_CLASSES}
        for det, names in CATALOGUE.items():
            for name in names:
                faces[det].append(draw_face_array(name, 192))
        if photo_stop is not None and photo_stop.is_file():
            img = cv2.resize(read_image(photo_stop), (192, 192), interpolation=cv2.INTER_AREA)
            faces["stop"].append(np.concatenate([img, draw_face_array("stop", 192)[..., 3:]], 2))
        if gtsrb_dir is not None:
            p = Path(gtsrb_dir) / "train.npz"
            if not p.is_file():
                raise PatchsimError(f"GTSRB training data not found at {p}; pass --data DIR")
            rng = np.random.default_rng(seed)
            with np.load(p, allow_pickle=False) as d:
                x, y, size, roi = d["x"], d["y"], d["orig_size"], d["orig_roi"]
            alphas: dict[int, np.ndarray] = {}
            for cid in np.unique(y):
                det = GTSRB_TO_DET.get(int(cid), "other_sign")
                idx = np.flatnonzero(y == cid)
                take = rng.choice(idx, size=min(len(idx), per_class if det != "other_sign" else per_class // 8),
                                  replace=False)
                for i in take:
                    sx, sy = 32 / size[i][0], 32 / size[i][1]
                    x1, y1, x2, y2 = roi[i]
                    crop = x[i][int(y1 * sy):max(int(y1 * sy) + 4, int(np.ceil(y2 * sy))),
                                int(x1 * sx):max(int(x1 * sx) + 4, int(np.ceil(x2 * sx)))]
                    crop = cv2.resize(crop, (48, 48), interpolation=cv2.INTER_LINEAR)
                    if int(cid) not in alphas:
                        alphas[int(cid)] = _silhouette(int(cid), 48)
                    faces[det].append(np.concatenate([crop, alphas[int(cid)][..., None]], 2))
        missing = [c for c, f in faces.items() if not f]
        if missing:
            raise PatchsimError(f"no sign textures for {', '.join(missing)} (GTSRB data needed for other_sign)")
        return cls(faces)


def real_backgrounds(street_dir: Path) -> list[tuple[np.ndarray, np.ndarray]]:
    """The attacker street photos (``praveen`` split ``train``) with their stop boxes ``(K, 4)``, each
    downscaled so its longest side is at most 832 px."""
    from patchsim.models.detectors.street import street_images

    out = []
    for item in street_images(street_dir, "praveen", {"train"}):
        img = read_image(item.path)
        s = min(1.0, 832 / max(img.shape[:2]))
        if s < 1:
            img = cv2.resize(img, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
        out.append((img, item.stop_boxes * s))
    return out


def _procedural(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    from patchsim.render.background import procedural_background

    bg = procedural_background(int(rng.integers(1 << 30)), h, w).numpy().transpose(1, 2, 0) ** (1 / 2.2)
    img = np.ascontiguousarray((bg * 255).astype(np.uint8))
    if rng.random() < 0.5:  # buildings: a few flat blocks with windows
        for _ in range(int(rng.integers(1, 5))):
            x1, y1 = int(rng.integers(0, w)), int(rng.integers(0, h // 2))
            x2, y2 = x1 + int(rng.integers(w // 8, w // 2)), y1 + int(rng.integers(h // 8, h // 2))
            col = tuple(int(v) for v in rng.integers(40, 220, 3))
            cv2.rectangle(img, (x1, y1), (x2, y2), col, -1)
            for _ in range(int(rng.integers(0, 12))):
                wx, wy = int(rng.integers(x1, max(x1 + 1, x2))), int(rng.integers(y1, max(y1 + 1, y2)))
                cv2.rectangle(img, (wx, wy), (wx + 6, wy + 8), tuple(int(v) for v in rng.integers(0, 120, 3)), -1)
    return img


def _distractors(img: np.ndarray, rng: np.random.Generator) -> None:
    """Things that are not our signs: red and other coloured blobs, white / yellow / green boards with
    dark strokes (US regulatory and guide signs), traffic-light-like boxes, poles."""
    h, w = img.shape[:2]
    for _ in range(int(rng.integers(0, 5))):
        kind = rng.random()
        s = int(np.exp(rng.uniform(np.log(6), np.log(max(8, h / 3)))))
        x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
        if kind < 0.35:
            col = (int(rng.integers(140, 230)), int(rng.integers(0, 60)), int(rng.integers(0, 60))) if rng.random() < 0.7 \
                else tuple(int(v) for v in rng.integers(0, 255, 3))
            if rng.random() < 0.5:
                cv2.ellipse(img, (x, y), (s, int(s * rng.uniform(0.3, 1.2))), float(rng.uniform(0, 180)), 0, 360, col, -1, cv2.LINE_AA)
            else:
                cv2.rectangle(img, (x, y), (x + s, y + int(s * rng.uniform(0.3, 1.5))), col, -1)
        elif kind < 0.75:
            bw, bh = (s, int(s * rng.uniform(0.3, 1.3)))
            col = [(240, 240, 235), (250, 200, 20), (20, 110, 60), (30, 60, 150)][int(rng.integers(0, 4))]
            cv2.rectangle(img, (x, y), (x + bw, y + bh), col, -1)
            ink = (20, 20, 20) if col[0] > 200 else (240, 240, 240)
            for k in range(int(rng.integers(1, 4))):
                yy = y + int((k + 0.5) * bh / 4)
                cv2.line(img, (x + bw // 6, yy), (x + bw - bw // 6, yy), ink, max(1, bh // 10))
        else:
            cv2.rectangle(img, (x, y), (x + max(2, s // 8), h), tuple(int(v) for v in rng.integers(60, 160, 3)), -1)


def _perspective(rng: np.random.Generator, side: float, cx: float, cy: float) -> np.ndarray:
    """Destination corners (TL, TR, BR, BL) of a face square of ``side`` px at (cx, cy), seen at a random
    yaw / pitch / roll through a pinhole camera."""
    yaw, pitch, roll = np.radians([rng.uniform(-65, 65) * (rng.random() < 0.8), rng.uniform(-15, 15), rng.uniform(-12, 12)])
    cyw, syw, cp, sp, cr, sr = np.cos(yaw), np.sin(yaw), np.cos(pitch), np.sin(pitch), np.cos(roll), np.sin(roll)
    rot = (np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]]) @ np.array([[cyw, 0, syw], [0, 1, 0], [-syw, 0, cyw]])
           @ np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]]))
    sq = np.array([[-1, -1, 0], [1, -1, 0], [1, 1, 0], [-1, 1, 0]], np.float64) * 0.5
    p = sq @ rot.T
    dist = rng.uniform(2.5, 8.0)  # in face widths: mild to strong perspective
    uv = p[:, :2] / (dist + p[:, 2:]) * dist
    return (uv * side + [cx, cy]).astype(np.float32)


def _paste(img: np.ndarray, face: np.ndarray, dst: np.ndarray, rng: np.random.Generator) -> np.ndarray | None:
    """Warp an RGBA face onto ``img`` in place with light, shade and blur; the tight box of the visible
    silhouette ``(4,)`` or None when too little is visible."""
    h, w = img.shape[:2]
    n = face.shape[0]
    src = np.array([[0, 0], [n, 0], [n, n], [0, n]], np.float32)
    x1, y1 = np.floor(dst.min(0)).astype(int) - 2
    x2, y2 = np.ceil(dst.max(0)).astype(int) + 2
    x1c, y1c, x2c, y2c = max(0, x1), max(0, y1), min(w, x2), min(h, y2)
    if x2c - x1c < 3 or y2c - y1c < 3:
        return None
    local = (dst - np.array([x1c, y1c], np.float32)).astype(np.float32)
    side = float(np.linalg.norm(dst[1] - dst[0]))
    tex = face
    while tex.shape[0] > 2 * side and tex.shape[0] > 16:
        tex = cv2.pyrDown(tex)
    m = cv2.getPerspectiveTransform(src * np.float32(tex.shape[0] / n), local)
    warped = cv2.warpPerspective(tex.astype(np.float32) / 255, m, (x2c - x1c, y2c - y1c), flags=cv2.INTER_LINEAR,
                                 borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    rgb, a = warped[..., :3], warped[..., 3:]
    gain = rng.uniform(0.35, 1.35) * rng.uniform(0.85, 1.15, 3)
    rgb = rgb * gain + rng.uniform(0, 0.12) * (rng.random() < 0.3)
    if rng.random() < 0.35:  # a soft shadow edge across the face
        yy, xx = np.mgrid[0:rgb.shape[0], 0:rgb.shape[1]].astype(np.float32)
        ang = rng.uniform(0, np.pi)
        s = (xx - rgb.shape[1] / 2) * np.cos(ang) + (yy - rgb.shape[0] / 2) * np.sin(ang)
        rgb = rgb * (1 - rng.uniform(0.2, 0.6) / (1 + np.exp(-s / max(1.0, side * 0.05))))[..., None]
    sigma = rng.uniform(0, 1.2) if rng.random() < 0.5 else 0.0
    if sigma > 0.3:
        rgb, a = cv2.GaussianBlur(rgb, (0, 0), sigma), cv2.GaussianBlur(a, (0, 0), sigma)[..., None]
    region = img[y1c:y2c, x1c:x2c].astype(np.float32) / 255
    img[y1c:y2c, x1c:x2c] = (np.clip(rgb * a + region * (1 - a), 0, 1) * 255 + 0.5).astype(np.uint8)
    ys, xs = np.nonzero(a[..., 0] > 0.5)
    if len(xs) < 6:
        return None
    full = cv2.contourArea(dst.astype(np.float32))
    if len(xs) < 0.45 * full * 0.8:  # mostly outside the frame: leave it unlabelled (ambiguous)
        return np.array([np.nan] * 4, np.float32)
    return np.array([xs.min() + x1c, ys.min() + y1c, xs.max() + 1 + x1c, ys.max() + 1 + y1c], np.float32)


def _camera(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    f = img.astype(np.float32) / 255
    if rng.random() < 0.3:
        f = cv2.GaussianBlur(f, (0, 0), rng.uniform(0.3, 1.3))
    if rng.random() < 0.15:
        k = int(rng.integers(3, 8))
        kern = np.zeros((k, k), np.float32)
        kern[k // 2] = 1 / k
        rot = cv2.getRotationMatrix2D(((k - 1) / 2, (k - 1) / 2), float(rng.uniform(0, 180)), 1)
        f = cv2.filter2D(f, -1, cv2.warpAffine(kern, rot, (k, k)))
    f = np.clip(f * rng.uniform(0.85, 1.15, 3) * rng.uniform(0.7, 1.3) + rng.uniform(-0.08, 0.08), 0, 1)
    f = f ** rng.uniform(0.75, 1.35)
    grey = f.mean(2, keepdims=True)
    f = grey + (f - grey) * rng.uniform(0.6, 1.4)
    f = f + rng.normal(0, rng.uniform(0, 0.03), f.shape).astype(np.float32)
    out = (np.clip(f, 0, 1) * 255 + 0.5).astype(np.uint8)
    if rng.random() < 0.6:
        ok, enc = cv2.imencode(".jpg", out[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(35, 95))])
        out = cv2.imdecode(enc, cv2.IMREAD_COLOR)[..., ::-1].copy()
    return out


class FrameSynth:
    """Draws training frames ``(canvas uint8 (S, S, 3), boxes (K, 4) xyxy px, labels (K,))``; boxes that
    are NaN are ignored regions (signs mostly outside the frame)."""

    def __init__(self, textures: SignTextures, backgrounds: list[tuple[np.ndarray, np.ndarray]], size: int = 320,
                 real_fraction: float = 0.4):
        self.textures, self.backgrounds, self.size, self.real_fraction = textures, backgrounds, size, real_fraction
        self.classes = list(SIGN_DET_CLASSES)
        self.weights = np.array([CLASS_WEIGHTS[c] for c in self.classes])
        self.weights /= self.weights.sum()

    def _background(self, rng: np.random.Generator) -> tuple[np.ndarray, list[np.ndarray], list[int]]:
        s = self.size
        if self.backgrounds and rng.random() < self.real_fraction:
            img, boxes = self.backgrounds[int(rng.integers(len(self.backgrounds)))]
            h, w = img.shape[:2]
            scale = s / min(h, w) * np.exp(rng.uniform(np.log(0.5), np.log(2.2)))
            img = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
            h, w = img.shape[:2]
            canvas = np.full((s, s, 3), 114, np.uint8)
            ox, oy = int(rng.integers(min(0, w - s), max(0, w - s) + 1)), int(rng.integers(min(0, h - s), max(0, h - s) + 1))
            sx0, sy0 = max(0, ox), max(0, oy)
            dx0, dy0 = max(0, -ox), max(0, -oy)
            cw, ch = min(w - sx0, s - dx0), min(h - sy0, s - dy0)
            canvas[dy0:dy0 + ch, dx0:dx0 + cw] = img[sy0:sy0 + ch, sx0:sx0 + cw]
            out_boxes, labels = [], []
            for b in boxes * scale:
                b = b - [ox - dx0, oy - dy0, ox - dx0, oy - dy0]
                clipped = np.clip(b, 0, s)
                area = max(0, b[2] - b[0]) * max(0, b[3] - b[1])
                vis = max(0, clipped[2] - clipped[0]) * max(0, clipped[3] - clipped[1])
                if vis <= 0:
                    continue
                out_boxes.append(clipped if vis > 0.6 * area else np.full(4, np.nan, np.float32))
                labels.append(0)
            return canvas, out_boxes, labels
        return _procedural(rng, s, s), [], []

    def frame(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One training frame (see the class docstring)."""
        img, boxes, labels = self._background(rng)
        _distractors(img, rng)
        s = self.size
        for _ in range(int(rng.choice([0, 1, 1, 2, 2, 3, 4]))):
            c = int(rng.choice(len(self.classes), p=self.weights))
            faces = self.textures.faces[self.classes[c]]
            face = faces[int(rng.integers(len(faces)))]
            side = float(np.exp(rng.uniform(np.log(9), np.log(s * 0.95))))
            cx, cy = rng.uniform(-0.1 * side, s + 0.1 * side), rng.uniform(-0.1 * side, s + 0.1 * side)
            dst = _perspective(rng, side, cx, cy)
            if rng.random() < 0.5:  # a post below the sign
                pw = max(1, int(side * 0.06))
                bx = int((dst[2, 0] + dst[3, 0]) / 2)
                cv2.rectangle(img, (bx - pw, int(dst[2:, 1].max())), (bx + pw, s), tuple(int(v) for v in rng.integers(70, 170, 3)), -1)
                if rng.random() < 0.4:  # a supplementary plate under the sign ("ALL WAY"): not part of the sign
                    top = int(dst[2:, 1].max() + side * 0.04)
                    pw2, ph = int(side * rng.uniform(0.3, 0.5)), max(2, int(side * rng.uniform(0.12, 0.3)))
                    col = (235, 235, 230) if rng.random() < 0.6 else (190, 30, 40)
                    cv2.rectangle(img, (bx - pw2, top), (bx + pw2, top + ph), col, -1)
                    ink = (240, 240, 240) if col[1] < 100 else (30, 30, 30)
                    cv2.line(img, (bx - pw2 * 2 // 3, top + ph // 2), (bx + pw2 * 2 // 3, top + ph // 2), ink, max(1, ph // 4))
            known = [b for b in boxes if np.isfinite(b).all()]
            box = None
            lo, hi = dst.min(0), dst.max(0)
            if all(_iou(np.r_[lo, hi], k) < 0.2 for k in known):
                box = _paste(img, face, dst, rng)
            if box is not None:
                boxes.append(box)
                labels.append(c)
        img = _camera(img, rng)
        return img, np.array(boxes, np.float32).reshape(-1, 4), np.array(labels, np.int64)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    return inter / max(1e-9, (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)
