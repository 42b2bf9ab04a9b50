"""Bad input as a hostile or careless user gives it, command by command: each case ends in one line
``patchsim CMD: error: ...`` naming what is wrong, exit code 2, before any heavy work, and leaves no
output behind (or the folder exactly as it was)."""

import json
import os
import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from patchsim.cli import main
from patchsim.io.images import write_png

from attack_records import write_attack_dir
from conftest import ROOT


def _png_bomb(path, side=30000):
    """A valid RGB PNG of side x side black pixels that takes a few MB on disk (1 GB+ decoded)."""
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)

    z = zlib.compressobj(9)
    row = b"\x00" * (1 + 3 * side)
    data = b"".join(z.compress(row) for _ in range(side)) + z.flush()
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", data) + chunk(b"IEND", b""))
    return path


LAUGHS = """name: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
sign:
  class: stop
  size_m: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
sticker: {regions: [{rect: [0, 0, 10, 10]}]}
eot:
  distance_m: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
  yaw_deg: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
  pitch_deg: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
  roll_deg: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
  lateral_m: [*f,*f,*f,*f,*f,*f,*f,*f,*f]
"""


@pytest.fixture(scope="module")
def files(tmp_path_factory, driveby_scene):
    d = tmp_path_factory.mktemp("hostile")
    st = np.zeros((300, 300, 4), np.uint8)
    st[60:90, 66:234] = (20, 160, 220, 255)
    write_png(d / "sticker.png", st)
    (d / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(200))
    _png_bomb(d / "bomb.png")
    (d / "laughs.yaml").write_text(LAUGHS)
    data = yaml.safe_load((ROOT / "scenes" / "stop_driveby.yaml").read_text())
    data["camera"] = {"width": 8192, "height": 8192, "supersample": 8}
    (d / "huge_camera.yaml").write_text(yaml.safe_dump(data))
    (d / "a_file").write_text("not a folder")
    (d / "listy").mkdir()
    write_png(d / "listy" / "sticker.png", st)
    (d / "listy" / "attack.json").write_text("[1, 2, 3]")
    (d / "far.json").write_text(json.dumps([[0, 0], [20000, 0], [20000, 20000], [0, 20000]]))
    (d / "flat.json").write_text(json.dumps([[10, 10], [50, 10], [90, 10], [130, 10]]))
    (d / "words.json").write_text(json.dumps([["a", "b"], [1, 2], [3, 4], [5, 6]]))
    write_png(d / "photo.png", np.full((480, 640, 3), 120, np.uint8))
    write_attack_dir(d / "attack", driveby_scene, st)
    (d / "empty").mkdir()
    (d / "text.txt").write_text("hello")
    os.mkfifo(d / "fifo")
    (d / "bad.json").write_text("{not json")
    (d / "labels3.txt").write_text("a\nb\nc\n")
    (d / "w.safetensors").write_bytes(b"garbage weights")
    (d / "model.onnx").write_bytes(b"")
    (d / "bad.npz").write_bytes(b"PK not a zip")
    np.savez(d / "nox.npz", y=np.zeros(3))
    (d / "gt").mkdir()
    np.savez(d / "gt" / "train.npz", x=np.zeros((4, 32, 32, 3), np.uint8), y=np.zeros(4, np.int64), track=np.arange(4))
    (d / "video.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(300))
    return d


def _cases(f):
    """(argv, message fragment); every case must exit 2 with that one-line message."""
    o = str(f / "out")
    attack = str(f / "attack")
    return [
        (["render", "/nonexistent/dir/stop_lab.yaml", "--out", o], "scene file not found"),
        (["render", "stop_driveby", "--n", "0", "--out", o], "argument --n: '0' is invalid: must be an integer in [1, 10000]"),
        (["render", "stop_driveby", "--n", "nan", "--out", o], "argument --n: 'nan' is invalid"),
        (["render", "stop_driveby", "--seed", "-1", "--out", o], "argument --seed: '-1' is invalid"),
        (["render", "stop_driveby", "--sticker", str(f / "bomb.png"), "--out", o], "30000 x 30000 pixels: larger than the limit of 16384"),
        (["render", "stop_driveby", "--sticker", str(f / "corrupt.png"), "--out", o], "cannot decode image"),
        (["render", str(f / "laughs.yaml"), "--out", o], "expands to"),
        (["render", str(f / "huge_camera.yaml"), "--out", o], "a frame may render at most"),
        (["render", "stop_driveby", "--out", str(f / "a_file")], "is an existing file; give a folder"),
        (["attack", "stop_driveby", "--dpi", "1e6", "--out", o], "argument --dpi: '1e6' is invalid: must be a finite number in [30, 2400]"),
        (["attack", "stop_driveby", "--dpi", "nan", "--out", o], "argument --dpi: 'nan' is invalid"),
        (["attack", "stop_driveby", "--dpi", "0", "--out", o], "argument --dpi: '0' is invalid"),
        (["attack", "stop_driveby", "--lr", "inf", "--out", o], "argument --lr: 'inf' is invalid"),
        (["attack", "stop_driveby", "--steps", "0", "--out", o], "argument --steps: '0' is invalid: must be an integer"),
        (["attack", "stop_driveby", "--batch", "2.5", "--out", o], "argument --batch: '2.5' is invalid"),
        (["attack", "stop_driveby", "--face-resolution", "5000", "--out", o], "argument --face-resolution"),
        (["attack", "stop_driveby", "--real-fraction", "1", "--out", o], "argument --real-fraction"),
        (["attack", "stop_driveby", "--target", "nope", "--out", o], "target 'nope' is not among the model's classes"),
        (["attack", "stop_driveby", "--printer", "laser", "--out", o], "--printer 'laser'"),
        (["attack", "stop_driveby", "--out", attack], "is not empty"),
        (["attack", "stop_driveby", "--resume", "--out", attack], "--resume: no checkpoint"),
        (["evaluate", "stop_driveby", "--sticker", str(f / "corrupt.png"), "--out", o], "cannot decode image"),
        (["evaluate", "stop_driveby", "--mode", "grid", "--out", o], "has no 'grid' section"),
        (["evaluate", "stop_driveby", "--sticker", str(f / "listy" / "sticker.png"), "--out", o], "must be a JSON object"),
        (["evaluate", attack, "--out", attack], "is not empty"),
        (["score", str(f / "photo.png"), "--corners", str(f / "far.json"), "--out", o], "does not fit the 640 x 480 photo"),
        (["score", str(f / "photo.png"), "--corners", str(f / "flat.json"), "--out", o], "encloses no area"),
        (["score", str(f / "photo.png"), "--corners", str(f / "words.json"), "--out", o], "must be 4 [x, y] points"),
        (["score", str(f / "photo.png"), "--fps", "-5", "--out", o], "argument --fps: '-5' is invalid"),
        (["score", str(f / "photo.png"), "--fps", "nan", "--out", o], "argument --fps: 'nan' is invalid"),
        (["print", attack, "--dpi", "0"], "argument --dpi: '0' is invalid"),
        (["print", attack, "--out", str(f)], "is a folder; give a file name"),
        (["print", str(f)], "is not an attack output folder"),
        (["calibrate", str(f / "photo.png"), "--out", str(f)], "is a folder; give a file name"),
        (["train", "gtsrb-cnn", "--out", str(f)], "is a folder; give a file name"),
        (["classify", "gtsrb-cnn", str(f / "bomb.png")], "larger than the limit"),
        (["sweep", "--scenes", "nope", "--out", o], "no packaged scene is called nope"),
        (["sweep", "--scenes", "stop_driveby", "--stickers", str(f / "missing.png"), "--out", o], "file not found"),
        (["evaluate-photos", "rp2", "--margin", "5", "--out", o], "argument --margin: '5' is invalid"),
        (["evaluate-photos", "rp2", "--sticker", str(f / "bomb.png"), "--out", o], "larger than the limit"),
        (["classify", "gtsrb-cnn", str(f / "photo.png"), "--device", "tpu"], "argument --device: 'tpu' is invalid: must be auto"),
    ] + ([] if torch.cuda.is_available() else [
        (["attack", "stop_driveby", "--device", "cuda", "--out", o], "no CUDA device here"),
        (["render", "stop_driveby", "--device", "cuda:1", "--out", o], "no CUDA device here"),
    ])


CASES = [  # (argv: F/ is the fixture folder, OUT an output folder; the one-line error's start)
    ('models --bogus',
     'unrecognized arguments: --bogus (see patchsim models --help)'),
    ('classify nope-model F/photo.png',
     "unknown model 'nope-model': give a shipped name (gtsrb-cnn,"),
    ('classify gtsrb-cnn F/missing.png',
     'image file not found: F/missing.png'),
    ('classify gtsrb-cnn F/corrupt.png',
     'cannot decode image (corrupt or unsupported format): F/corrupt.png'),
    ('classify gtsrb-cnn F/empty',
     'image file F/empty is a folder; give a file'),
    ('classify gtsrb-cnn F/fifo',
     'image file F/fifo is not a regular file (a FIFO, a device or a socket)'),
    ('classify gtsrb-cnn F/photo.png --weights F/w.safetensors',
     'cannot load weights F/w.safetensors safely (SafetensorError: Error'),
    ('classify gtsrb-cnn F/photo.png --weights F/missing.safetensors',
     'weights file not found: F/missing.safetensors'),
    ('classify F/text.txt F/photo.png',
     "unknown model 'F/text.txt': give a shipped name (gtsrb-cnn,"),
    ('classify byo_factory:tiny_net F/photo.png --labels F/missing.txt',
     'labels file F/missing.txt not found'),
    ('classify gtsrb-cnn F/text.txt',
     'cannot decode image (corrupt or unsupported format): F/text.txt'),
    ('train nope --out F/x.safetensors',
     "cannot train 'nope'; trainable models: gtsrb-cnn, gtsrb-resnet"),
    ('train gtsrb-cnn --epochs 0 --out F/x.safetensors',
     "argument --epochs: '0' is invalid: must be an integer in [1, 1000] (see"),
    ('train gtsrb-cnn --epochs nan --out F/x.safetensors',
     "argument --epochs: 'nan' is invalid: must be an integer in [1, 1000]"),
    ('train gtsrb-cnn --seed -3 --out F/x.safetensors',
     "argument --seed: '-3' is invalid: must be an integer in [0,"),
    ('train gtsrb-cnn --data F/empty --out F/x.safetensors',
     'GTSRB train data not found at F/empty/train.npz; pass --data DIR (the'),
    ('train gtsrb-cnn --data F/missing --out F/x.safetensors',
     'GTSRB train data not found at F/missing/train.npz; pass --data DIR (the'),
    ('train gtsrb-cnn --resume --out F/x.safetensors',
     '--resume: no checkpoint at F/x.safetensors.checkpoint.pt'),
    ('train gtsrb-cnn --device gpu --out F/x.safetensors',
     "argument --device: 'gpu' is invalid: must be auto (CUDA when available,"),
    ('train gtsrb-cnn --out F/fifo',
     '--out F/fifo is not a regular file (a FIFO or a device); give a file'),
    ('attack F/missing.yaml --out OUT',
     'scene file not found: F/missing.yaml (packaged scenes: board_driveby,'),
    ('attack stop_driveby --model nope --out OUT',
     "unknown model 'nope': give a shipped name (gtsrb-cnn, gtsrb-resnet,"),
    ('attack stop_driveby --model gtsrb-cnn --weights F/w.safetensors --out OUT',
     'cannot load weights F/w.safetensors safely (SafetensorError: Error'),
    ('attack stop_driveby --mode wall --out OUT',
     "argument --mode: invalid choice: 'wall' (choose from 'sticker',"),
    ('attack stop_driveby --loss hinge --out OUT',
     "argument --loss: invalid choice: 'hinge' (choose from 'ce', 'margin')"),
    ('attack stop_driveby --kappa -1 --out OUT',
     "argument --kappa: '-1' is invalid: must be a finite number in [0, 1000]"),
    ('attack stop_driveby --eps 5 --out OUT',
     "argument --eps: '5' is invalid: must be a finite number in [0.0001, 1]"),
    ('attack stop_driveby --norm l0 --out OUT',
     "argument --norm: invalid choice: 'l0' (choose from 'linf', 'l2') (see"),
    ('attack stop_driveby --palette F/bad.json --out OUT',
     'palette F/bad.json is not valid JSON: Expecting property name enclosed'),
    ('attack stop_driveby --palette F/missing.json --out OUT',
     'palette F/missing.json not found'),
    ('attack stop_driveby --init-sticker F/corrupt.png --out OUT',
     '--init-sticker: cannot decode image (corrupt or unsupported format):'),
    ('attack stop_driveby --real-photos nowhere --out OUT',
     "attack config: real_photos = 'nowhere' is invalid: is used only with"),
    ('attack stop_driveby --goal disappear --out OUT',
     '--goal disappear applies to detectors; gtsrb-cnn is a classifier (use'),
    ('attack stop_driveby --val-size 0 --out OUT',
     "argument --val-size: '0' is invalid: must be an integer in [1, 100000]"),
    ('attack stop_driveby --paper A3 --out OUT',
     "argument --paper: invalid choice: 'A3' (choose from 'A4', 'letter')"),
    ('attack stop_driveby --seed 1.5 --out OUT',
     "argument --seed: '1.5' is invalid: must be an integer in [0,"),
    ('attack stop_driveby --true-class nope --untargeted --out OUT',
     "--true-class 'nope' is not among the model's classes; valid classes:"),
    ('attack stop_driveby --defence magic --out OUT',
     "argument --defence: 'magic' is invalid; allowed: jpeg[:QUALITY]"),
    ('attack stop_driveby --labels F/fifo --out OUT',
     '--labels F/fifo: gtsrb-cnn is a shipped model with its own classes;'),
    ('attack stop_driveby --checkpoint-every -1 --out OUT',
     "argument --checkpoint-every: '-1' is invalid: must be an integer in [1,"),
    ('attack stop_driveby --tv-weight nan --out OUT',
     "argument --tv-weight: 'nan' is invalid: must be a finite number in [0,"),
    ('evaluate F/missing.yaml --out OUT',
     'scene file not found: F/missing.yaml (packaged scenes: board_driveby,'),
    ('evaluate stop_driveby --sticker F/missing.png --out OUT',
     'image file not found: F/missing.png'),
    ('evaluate stop_driveby --model nope --out OUT',
     "unknown model 'nope': give a shipped name (gtsrb-cnn, gtsrb-resnet,"),
    ('evaluate stop_driveby --target nope --sticker F/sticker.png --out OUT',
     "target 'nope' is not among the model's classes; valid classes:"),
    ('evaluate stop_driveby --seed -1 --out OUT',
     "argument --seed: '-1' is invalid: must be an integer in [0,"),
    ('evaluate stop_driveby --printer F/bad.json --out OUT',
     'printer profile F/bad.json is not valid JSON: Expecting property name'),
    ('evaluate stop_driveby --goal disappear --out OUT',
     '--goal disappear applies to detectors; gtsrb-cnn is a classifier'),
    ('evaluate stop_driveby --sticker F/fifo --out OUT',
     'image file F/fifo is not a regular file (a FIFO, a device or a socket)'),
    ('evaluate stop_driveby --defence jpeg:500 --out OUT',
     "--defence 'jpeg:500': JPEG defence: quality = 500 is invalid: an"),
    ('evaluate stop_driveby --out F/text.txt',
     '--out F/text.txt is an existing file; give a folder'),
    ('evaluate-real F/missing --out OUT',
     'source not found: F/missing (a folder of images, a video file, or'),
    ('evaluate-real F/empty --out OUT',
     'folder F/empty holds no images (.bmp, .jpeg, .jpg, .png, .tif, .tiff,'),
    ('evaluate-real F/video.mp4 --out OUT',
     'cannot open video F/video.mp4'),
    ('evaluate-real F/photo.png --model nope --out OUT',
     "unknown model 'nope': give a shipped name (gtsrb-cnn, gtsrb-resnet,"),
    ('evaluate-real gtsrb --data F/missing --out OUT',
     'GTSRB train data not found at F/missing/train.npz; pass --data DIR (the'),
    ('evaluate-real F/photo.png --true-class nope --out OUT',
     "true class 'nope' is not among the model's classes; valid classes:"),
    ('evaluate-real F/photo.png --target nope --out OUT',
     "target 'nope' is not among the model's classes; valid classes:"),
    ('evaluate-real F/fifo --out OUT',
     'source F/fifo is not a regular file (a FIFO, a device or a socket) (a'),
    ('evaluate-real F/photo.png --out F/text.txt',
     '--out F/text.txt is an existing file; give a folder'),
    ('sweep --scenes stop_driveby --models nope --out OUT',
     "unknown model 'nope': give a shipped name (gtsrb-cnn, gtsrb-resnet,"),
    ('sweep --scenes stop_driveby --seeds -1 --out OUT',
     "argument --seeds: '-1' is invalid: must be an integer in [0,"),
    ('sweep --scenes stop_driveby --stickers F/corrupt.png --out OUT',
     'cannot decode image (corrupt or unsupported format): F/corrupt.png'),
    ('sweep --scenes stop_driveby --mode grid --out OUT',
     "--scenes stop_driveby: the scene has no 'grid' section (--mode grid)"),
    ('sweep --scenes stop_driveby --stickers F/sticker.png F/corrupt.png --out OUT',
     'cannot decode image (corrupt or unsupported format): F/corrupt.png'),
    ('sweep --scenes stop_driveby --ray nowhere --out OUT',
     "--ray needs Ray: pip install 'patchsim[ray]'"),
    ('print F/missing',
     'F/missing is not an attack output folder: attack.json missing'),
    ('print F/sticker.png',
     'print F/sticker.png: a sticker image needs --scene (the scene whose'),
    ('print F/sticker.png --scene nope',
     'no packaged scene is called nope (packaged scenes: board_driveby,'),
    ('print F/corrupt.png --scene stop_driveby',
     'cannot decode image (corrupt or unsupported format): F/corrupt.png'),
    ('print F/sticker.png --scene stop_driveby --dpi 5000',
     "argument --dpi: '5000' is invalid: must be a finite number in [30,"),
    ('print F/sticker.png --scene stop_driveby --paper A0',
     "argument --paper: invalid choice: 'A0' (choose from 'A4', 'letter')"),
    ('print F/sticker.png --scene stop_driveby --out F/sticker.png',
     '--out F/sticker.png would overwrite F/sticker.png, an input of this'),
    ('print F/sticker.png --scene stop_driveby --out F/empty',
     '--out F/empty is a folder; give a file name'),
    ('calibrate F/missing.png --out F/p.json',
     'image file not found: F/missing.png'),
    ('calibrate F/corrupt.png --out F/p.json',
     'cannot decode image (corrupt or unsupported format): F/corrupt.png'),
    ('calibrate F/photo.png --out F/p.json',
     'calibration chart not found: need 3 of its ArUco markers [0, 1, 2, 3],'),
    ('calibrate F/fifo --out F/p.json',
     'image file F/fifo is not a regular file (a FIFO, a device or a socket)'),
    ('calibrate F/sticker.png --out F/sticker.palette.json',
     'calibration chart not found: need 3 of its ArUco markers [0, 1, 2, 3],'),
    ('score F/missing.png --out OUT',
     'photo, folder or video not found: F/missing.png'),
    ('score F/empty --out OUT',
     'folder F/empty holds no images (.bmp, .jpeg, .jpg, .png, .tif, .tiff,'),
    ('score F/photo.png --model nope --out OUT',
     "unknown model 'nope': give a shipped name (gtsrb-cnn, gtsrb-resnet,"),
    ('score F/photo.png --corners F/missing.json --out OUT',
     'corners file F/missing.json not found'),
    ('score F/photo.png --corners F/bad.json --out OUT',
     'corners file F/bad.json is not valid JSON: Expecting property name'),
    ('score F/photo.png --find-with nope --out OUT',
     "unknown detector 'nope': give sign-det, sign-yolo, an ultralytics export (.onnx /"),
    ('score F/photo.png --sign nope --out OUT',
     "--sign 'nope' is not among the model's classes; valid classes:"),
    ('score F/photo.png --target nope --out OUT',
     "target 'nope' is not among the model's classes; valid classes:"),
    ('score F/video.mp4 --out OUT',
     'cannot open video F/video.mp4'),
    ('score F/corrupt.png --out OUT',
     'cannot decode image (corrupt or unsupported format): F/corrupt.png'),
    ('evaluate-photos nowhere --out OUT',
     "photo source 'nowhere': not a folder; allowed: rp2, street:asadi,"),
    ('evaluate-photos F/empty --out OUT',
     'photo source F/empty: no images (.bmp, .jpeg, .jpg, .png, .tif, .tiff,'),
    ('evaluate-photos rp2 --sticker F/missing.png --out OUT',
     'image file not found: F/missing.png'),
    ('evaluate-photos rp2 --relight magic --out OUT',
     "--relight 'magic' is unknown; allowed: validated (default), none,"),
    ('evaluate-photos rp2 --printer laser --out OUT',
     "--printer 'laser': no such profile file; allowed: 'inkjet' (default:"),
    ('evaluate-photos rp2 --model nope --out OUT',
     "unknown model 'nope': give a shipped name (gtsrb-cnn, gtsrb-resnet,"),
    ('evaluate-photos rp2 --twin-hfov 500 --out OUT',
     "argument --twin-hfov: '500' is invalid: must be a finite number in [1,"),
    ('evaluate-photos rp2 --annotations F/bad.json --out OUT',
     "--annotations applies to a folder of photos; 'rp2' brings its own"),
    ('evaluate-photos rp2 --sign nope --out OUT',
     "--sign 'nope' is not among the model's classes; valid classes:"),
    ('evaluate-photos rp2 --target nope --sticker F/sticker.png --out OUT',
     "target 'nope' is not among the model's classes; valid classes:"),
    ('detect nope F/photo.png --out OUT',
     "unknown detector 'nope': give sign-det, sign-yolo, an ultralytics export (.onnx /"),
    ('detect sign-det F/missing.png --out OUT',
     'image or folder not found: F/missing.png'),
    ('detect sign-det F/empty --out OUT',
     'folder F/empty holds no images (.bmp, .jpeg, .jpg, .png, .tif, .tiff,'),
    ('detect sign-det F/corrupt.png --out OUT',
     'cannot decode image (corrupt or unsupported format): F/corrupt.png'),
    ('detect sign-det F/photo.png --score-threshold 2 --out OUT',
     "argument --score-threshold: '2' is invalid: must be a finite number in"),
    ('detect sign-det F/photo.png --input-size 0 10 --out OUT',
     "argument --input-size: '0' is invalid: must be an integer in [32, 4096]"),
    ('detect sign-det F/photo.png --weights F/w.safetensors --out OUT',
     'cannot load weights F/w.safetensors safely (SafetensorError: Error'),
    ('detect sign-det F/photo.png --out F/text.txt',
     '--out F/text.txt is an existing file; give a folder'),
    ('detect F/text.txt F/photo.png --out OUT',
     "unknown detector 'F/text.txt': give sign-det, sign-yolo, an ultralytics export"),
    ('detect sign-det F/fifo --out OUT',
     'image or folder F/fifo is not a regular file (a FIFO, a device or a'),
    ('train-detector --steps 0 --out F/d.safetensors',
     "argument --steps: '0' is invalid: must be an integer in [1, 1e+07] (see"),
    ('train-detector --data F/missing --out F/d.safetensors',
     '--data F/missing: no gtsrb/ folder there (the shared data folder holds'),
    ('train-detector --data F/empty --out F/d.safetensors',
     '--data F/empty: no gtsrb/ folder there (the shared data folder holds'),
    ('train-detector --out F/empty',
     '--out F/empty is a folder; give a file name'),
    ('train-detector --resume --out F/d.safetensors',
     '--resume: no checkpoint at F/d.safetensors.checkpoint.pt'),
    ('attack stop_driveby --far-weight 1 --out OUT',
     '--far-weight: 1 applies to detector attacks; gtsrb-cnn is a classifier'),
    ('attack stop_driveby --model sign-det --far-weight 9 --out OUT',
     "argument --far-weight: '9' is invalid: must be a finite number in [0, 4]"),
    ('attack stop_driveby --style paint --out OUT',
     "attack config: style = 'paint' is invalid: must be one of inkjet, vinyl, vinyl:K, graffiti"),
    ('attack stop_driveby --style vinyl --mode poster --out OUT',
     "attack config: style = 'vinyl' is invalid: applies to --mode sticker"),
    ('attack stop_driveby --style graffiti --printer inkjet --out OUT',
     '--printer: inkjet prints inkjet stickers; --style graffiti is cut from vinyl'),
    ('attack stop_driveby --vinyl-palette F/x.json --out OUT',
     "attack config: vinyl_palette = 'F/x.json' is invalid: applies to --style vinyl or graffiti"),
    ('attack stop_driveby --mask auto:0.9 --out OUT',
     "attack config: mask = 'auto:0.9' is invalid: the area must be a face fraction in (0, 0.5]"),
    ('attack stop_driveby --mask auto --mode poster --out OUT',
     "attack config: mask = 'auto' is invalid: applies to --mode sticker"),
    ('attack stop_driveby --model gtsrb-cnn,sign-det --out OUT',
     '--model: sign-det is a detector; an ensemble takes classifiers'),
    ('attack stop_driveby --model gtsrb-cnn,,x --out OUT',
     "--model 'gtsrb-cnn,,x' is invalid: an ensemble is distinct model names"),
    ('train-detector --model yolo --out F/d.safetensors',
     "argument --model: invalid choice: 'yolo' (choose from 'sign-det',"),
    ('train-detector --seed nan --out F/d.safetensors',
     "argument --seed: 'nan' is invalid: must be an integer in [0,"),
    ('harden nope --out F/h.safetensors',
     "unknown model 'nope': give a shipped name (gtsrb-cnn, gtsrb-resnet,"),
    ('harden gtsrb-cnn --steps 0 --out F/h.safetensors',
     "argument --steps: '0' is invalid: must be an integer in [1, 1e+06] (see"),
    ('harden gtsrb-cnn --weights F/missing.safetensors --out F/h.safetensors',
     'weights file not found: F/missing.safetensors'),
    ('harden gtsrb-cnn --weights F/w.safetensors --out F/h.safetensors',
     'cannot load weights F/w.safetensors safely (SafetensorError: Error'),
    ('harden gtsrb-cnn --scene nope --out F/h.safetensors',
     'no packaged scene is called nope (packaged scenes: board_driveby,'),
    ('harden gtsrb-cnn --printer laser --out F/h.safetensors',
     "--printer 'laser': no such profile file; allowed: 'inkjet' (default:"),
    ('harden gtsrb-cnn --data F/missing --out F/h.safetensors',
     'GTSRB train data not found at F/missing/train.npz; pass --data DIR (the'),
    ('harden gtsrb-cnn --resume --out F/h.safetensors',
     '--resume: no checkpoint at F/h.safetensors.checkpoint.pt'),
    ('harden gtsrb-cnn --limit 0 --out F/h.safetensors',
     "argument --limit: '0' is invalid: must be an integer in [1, 1e+07] (see"),
    ('harden gtsrb-cnn --out F/empty',
     '--out F/empty is a folder; give a file name'),
    ('certify nope --out F/c.json',
     "unknown model 'nope': give a shipped name (gtsrb-cnn, gtsrb-resnet,"),
    ('certify gtsrb-cnn --patch-frac 0 --out F/c.json',
     "argument --patch-frac: '0' is invalid: must be a finite number in"),
    ('certify gtsrb-cnn --masks-per-axis 1000 --out F/c.json',
     "argument --masks-per-axis: '1000' is invalid: must be an integer in [2,"),
    ('certify gtsrb-cnn --every 0 --out F/c.json',
     "argument --every: '0' is invalid: must be an integer in [1, 100000]"),
    ('certify gtsrb-cnn --scene nope --out F/c.json',
     'no packaged scene is called nope (packaged scenes: board_driveby,'),
    ('certify gtsrb-cnn --data F/missing --out F/c.json',
     'GTSRB test data not found at F/missing/test.npz; pass --data DIR (the'),
    ('certify gtsrb-cnn --weights F/w.safetensors --out F/c.json',
     'cannot load weights F/w.safetensors safely (SafetensorError: Error'),
    ('certify gtsrb-cnn --out F/empty',
     '--out F/empty is a folder; give a file name'),
    ('poison --model nope --out F/p.safetensors',
     "poison: model 'nope' cannot be trained here; allowed: gtsrb-cnn,"),
    ('poison --model gtsrb-cnn --trigger square:purple --out F/p.safetensors',
     "--trigger 'square:purple' is invalid; allowed: square:COLOUR (COLOUR"),
    ('poison --model gtsrb-cnn --trigger F/missing.png --out F/p.safetensors',
     "--trigger 'F/missing.png' is invalid (no such PNG file); allowed:"),
    ('poison --model gtsrb-cnn --trigger-rect 1,2,3 --out F/p.safetensors',
     "--trigger-rect '1,2,3' is invalid: give X,Y,W,H in face millimetres"),
    ('poison --model gtsrb-cnn --rate 2 --out F/p.safetensors',
     "argument --rate: '2' is invalid: must be a finite number in [1e-06,"),
    ('poison --model gtsrb-cnn --source nope --out F/p.safetensors',
     "--source 'nope' is not among the model's classes; valid classes:"),
    ('poison --model gtsrb-cnn --target nope --out F/p.safetensors',
     "--target 'nope' is not among the model's classes; valid classes:"),
    ('poison --model gtsrb-cnn --out F/p.pt',
     '--out F/p.pt is invalid: weights are written as .safetensors'),
    ('poison --model gtsrb-cnn --data-only --out F/p.safetensors',
     '--out F/p.safetensors is invalid with --data-only: the poisoned'),
    ('poison --model gtsrb-cnn --data F/missing --out F/p.safetensors',
     'GTSRB train data not found at F/missing/train.npz; pass --data DIR (the'),
    ('poison --model gtsrb-cnn --epochs 0 --out F/p.safetensors',
     "argument --epochs: '0' is invalid: must be an integer in [1, 1000] (see"),
    ('poison --model gtsrb-cnn --clean-label-eps 9 --clean-label --out F/p.safetensors',
     "argument --clean-label-eps: '9' is invalid: must be a finite number in"),
    ('inspect-data gtsrb-cnn --data F/missing.npz',
     '--data F/missing.npz is invalid: an .npz with x (N, 32, 32, 3) uint8'),
    ('inspect-data gtsrb-cnn --data F/bad.npz',
     '--data F/bad.npz is not a readable .npz (File is not a zip file)'),
    ('inspect-data gtsrb-cnn --data F/nox.npz',
     '--data F/nox.npz lacks x or y (has: y)'),
    ('inspect-data gtsrb-cnn --data F/fifo',
     '--data F/fifo is invalid: an .npz with x (N, 32, 32, 3) uint8 and y'),
    ('inspect-data gtsrb-cnn --data F/gt/train.npz --eps 0.9',
     "argument --eps: '0.9' is invalid: must be a finite number in [0.001,"),
    ('inspect-data gtsrb-cnn --data F/gt/train.npz --classes nope',
     "--classes 'nope' is not among the model's classes; valid classes:"),
    ('inspect-data nope --data F/gt/train.npz',
     "unknown model 'nope': give a shipped name (gtsrb-cnn, gtsrb-resnet,"),
    ('inspect-data gtsrb-cnn --data F/gt/train.npz --out F/gt/train.npz',
     '--out F/gt/train.npz would overwrite F/gt/train.npz, an input of this'),
    ('inspect-data gtsrb-cnn --data F/gt/train.npz --weights F/w.safetensors',
     'cannot load weights F/w.safetensors safely (SafetensorError: Error'),
    ('render stop_driveby --mode wall --out OUT',
     "argument --mode: invalid choice: 'wall' (choose from 'eot', 'driveby',"),
    ('render stop_driveby --sticker F/fifo --out OUT',
     'image file F/fifo is not a regular file (a FIFO, a device or a socket)'),
    ('render stop_driveby --sticker F/text.txt --out OUT',
     'cannot decode image (corrupt or unsupported format): F/text.txt'),
    ('render F/bad.json --out OUT',
     'F/bad.json: invalid YAML: while parsing a flow mapping in "<unicode'),
    ('render F/text.txt --out OUT',
     'F/text.txt: a scene file must hold a mapping at top level, got str'),
    ('render F/empty --out OUT',
     'scene file not found: F/empty (packaged scenes: board_driveby,'),
    ('classify gtsrb-cnn F/photo.png --labels F/labels3.txt',
     '--labels F/labels3.txt: gtsrb-cnn is a shipped model with its own'),
    ('detect sign-det F/photo.png --labels F/labels3.txt --out OUT',
     '--labels F/labels3.txt: sign-det is a shipped detector with its own'),
    ('classify F/model.onnx F/photo.png --weights F/w.safetensors',
     '--weights F/w.safetensors: model.onnx carries its own weights;'),
    ('poison --model gtsrb-cnn --trigger-rect 700,700,100,100 --out F/p.safetensors',
     '--trigger-rect 700,700,100,100 is invalid: x, y, w, h in face mm, w and'),
    ('poison --model gtsrb-cnn --data F/gt --out F/gt/train.npz --data-only',
     '--out F/gt/train.npz would overwrite F/gt/train.npz, an input of this'),
    ('evaluate stop_driveby --sticker F/sticker.png --out F/sticker.png',
     '--out F/sticker.png is an existing file; give a folder'),
    ('sweep --scenes stop_driveby --models gtsrb-cnn nope --out OUT',
     "unknown model 'nope'"),
    ('attack stop_driveby --dpi 2400 --out OUT',
     '--dpi = 2400 is too fine for a 0.75 m sign: 70866 px across'),
    ('score F/photo.png --corners F/fifo --out OUT',
     'corners file F/fifo is not a regular file (a folder, FIFO or device);'),
]


def _from_table(f):
    """:data:`CASES` with the fixture folder's paths filled in."""
    fill = lambda t: t.replace("F/", f"{f}/").replace("OUT", str(f / "out"))  # noqa: E731
    return [([fill(a) for a in argv.split()], fill(said)) for argv, said in CASES]


ALL = len(_cases(Path("F"))) + len(CASES)


@pytest.mark.parametrize("case", range(ALL))
def test_every_hostile_input_gets_one_line_and_leaves_nothing(case, files, capfd):
    """One case of the table: exit 2, one line ``patchsim CMD: error: ...`` starting as recorded (or holding
    the fragment), no traceback, said within seconds, nothing written and no input touched (not even a
    lock), nothing printed by a library on the process's own stderr."""
    argv, fragment = (_cases(files) + _from_table(files))[case]
    before = {p: p.stat().st_mtime_ns if p.is_file() else None for p in files.rglob("*")}
    t = time.time()
    rc = main(argv)
    err = capfd.readouterr().err.strip()
    assert rc == 2, (argv, rc, err)
    lines = [x for x in err.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"patchsim {argv[0]}: error:"), (argv, err)
    assert fragment in lines[0], (argv, lines[0])
    assert "Traceback" not in err and len(lines[0]) < 600, argv
    assert time.time() - t < 30, argv  # refused before any heavy work
    assert not (files / "out").exists(), argv  # nothing written
    after = {p: p.stat().st_mtime_ns if p.is_file() else None for p in files.rglob("*")}
    assert after == before, argv  # no file touched, nothing left behind


def test_a_second_run_cannot_write_into_a_locked_folder(tmp_path, capsys):
    out = tmp_path / "o"
    out.mkdir()
    (out / ".patchsim.lock").write_text(f"{os.getppid()} attack\n")  # a live process holds it
    assert main(["render", "stop_driveby", "--n", "1", "--out", str(out)]) == 2
    assert "is being written by another patchsim attack" in capsys.readouterr().err
    (out / ".patchsim.lock").write_text("999999999 attack\n")  # its process is gone: taken over
    (out / ".frame.png.tmp").write_bytes(b"half")  # an orphaned temporary file: cleaned
    assert main(["render", "stop_driveby", "--n", "1", "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == [".patchsim.manifest", "conditions.json", "contact_sheet.png",
                                                     "crops", "frames"]


def test_force_replaces_only_the_commands_own_stale_outputs(tmp_path, capsys):
    out = tmp_path / "o"
    assert main(["render", "stop_driveby", "--n", "4", "--out", str(out)]) == 0
    (out / "my_notes.txt").write_text("mine")
    assert main(["render", "stop_driveby", "--n", "1", "--out", str(out)]) == 2
    assert "is not empty" in capsys.readouterr().err and len(list((out / "frames").iterdir())) == 4
    assert main(["render", "stop_driveby", "--n", "1", "--out", str(out), "--force"]) == 0
    assert len(list((out / "frames").iterdir())) == 1  # no frames 1-3 left from the 4-frame run
    assert len(json.loads((out / "conditions.json").read_text())["conditions"]["distance_m"]) == 1
    assert (out / "my_notes.txt").read_text() == "mine"  # not the command's: left alone
    (out / "frames" / "keep.png").write_bytes(b"my own picture")  # inside an output folder, still not its
    (out / "crops" / "notes.txt").write_text("mine too")
    assert main(["render", "stop_driveby", "--n", "2", "--out", str(out), "--force"]) == 0
    assert (out / "frames" / "keep.png").read_bytes() == b"my own picture"
    assert (out / "crops" / "notes.txt").read_text() == "mine too"
    assert sorted(p.name for p in (out / "frames").iterdir()) == ["0000.png", "0001.png", "keep.png"]
    manifest = (out / ".patchsim.manifest").read_text().splitlines()
    assert manifest[0] == "#patchsim render" and "frames/0001.png" in manifest and "frames/keep.png" not in manifest


def test_ray_address_that_does_not_answer_fails_fast():
    from patchsim.errors import PatchsimError
    from patchsim.jobs.sweep import _reachable

    t = time.time()
    with pytest.raises(PatchsimError, match="no Ray head answers there"):
        _reachable("127.0.0.1:1")
    with pytest.raises(PatchsimError, match="give HOST:PORT"):
        _reachable("nowhere")
    assert time.time() - t < 15


def test_unexpected_failures_are_one_line_with_exit_1(tmp_path, capsys, monkeypatch):
    """An error that is not the user's (a disk error while writing) still ends in one line, exit 1."""
    import patchsim.jobs.render as rj

    def disk_full(*a, **k):
        raise OSError(28, "No space left on device", str(tmp_path / "o" / "frames" / "0000.png"))

    monkeypatch.setattr(rj, "write_png", disk_full)
    assert main(["render", "stop_driveby", "--n", "1", "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("patchsim render: error: file system: No space left on device") and "\n" not in err


def test_a_crafted_attack_json_cannot_make_evaluate_run_code(tmp_path, monkeypatch, capsys):
    """An attack folder whose attack.json names a module:factory (or a TorchScript file) as its model:
    ``evaluate DIR`` refuses before importing anything; the same reference given with --model, or
    --trust-model-code, is the user's own choice."""
    import json
    from pathlib import Path

    from patchsim.cli import main
    from patchsim.models import runs_code

    (tmp_path / "evil_factory.py").write_text(
        "from pathlib import Path\n\ndef boom():\n    Path(__file__).with_name('ran').write_text('code ran')\n    raise RuntimeError('no model here')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    rec = json.loads((Path(__file__).parent / "data" / "attack_v1_main_364db8c.json").read_text())
    for model in ("evil_factory:boom", str(tmp_path / "net.pt")):
        folder = tmp_path / ("a" + str(len(model)))
        folder.mkdir()
        (folder / "attack.json").write_text(json.dumps({**rec, "model": model}))
        (folder / "sticker.png").write_bytes((Path(__file__).parent / "data" / "attack_v1_main_364db8c.json").read_bytes()[:0])
        assert main(["evaluate", str(folder), "--out", str(tmp_path / "ev")]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "runs code" in err and "--trust-model-code" in err and model in err
        assert not (tmp_path / "ran").exists() and not (tmp_path / "ev").exists()
    assert runs_code("evil_factory:boom") and runs_code("x.pt") and not runs_code("gtsrb-cnn") and not runs_code("m.onnx")
    folder = tmp_path / ("a" + str(len("evil_factory:boom")))
    assert main(["evaluate", str(folder), "--trust-model-code", "--out", str(tmp_path / "ev")]) != 0
    assert (tmp_path / "ran").read_text() == "code ran"  # trusted: the user's choice, and it ran


def test_force_never_deletes_an_input_of_the_same_run(tmp_path, capsys):
    """--init-sticker inside the --out folder an earlier attack wrote: --force would delete it before it is
    read, so the run is refused and the file stays (with and without the folder's manifest)."""
    from patchsim.cli import main

    out = tmp_path / "o"
    out.mkdir()
    png = out / "sticker.png"
    png.write_bytes(b"an earlier attack's sticker")
    for manifest in (None, "#patchsim attack\nsticker.png\n"):
        if manifest:
            (out / ".patchsim.manifest").write_text(manifest)
        assert main(["attack", "stop_driveby", "--init-sticker", str(png), "--out", str(out), "--force"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "is an input of this run" in err
        assert png.read_bytes() == b"an earlier attack's sticker"


def test_no_command_writes_over_its_own_input_or_a_shipped_file(tmp_path, capsys):
    """Output files checked before any work: not an input of the run (symlinks and hard links too), not
    a file written beside the output (a model card), not inside the installed package, not a FIFO."""
    import os

    from patchsim.cli import main
    from patchsim.io.outputs import PACKAGE_ROOT

    photo = tmp_path / "chart.jpg"
    photo.write_bytes(b"not really a photo")
    link = tmp_path / "hard.json"
    os.link(photo, link)
    fifo = tmp_path / "pipe.pdf"
    os.mkfifo(fifo)
    shipped = PACKAGE_ROOT / "models" / "weights" / "gtsrb-cnn.safetensors"
    before = shipped.read_bytes()
    cases = [
        (["calibrate", str(photo), "--out", str(photo)], "an input of this run"),
        (["calibrate", str(photo), "--out", str(link)], "an input of this run"),  # a hard link of the photo
        (["train", "gtsrb-cnn", "--out", str(tmp_path / "w.json")], "would replace it"),  # the card over the weights
        (["train", "gtsrb-cnn", "--out", str(shipped)], "inside the installed patchsim package"),
        (["harden", "gtsrb-cnn", "--out", str(shipped)], "inside the installed patchsim package"),
        (["print", str(tmp_path / "s.png"), "--scene", "stop_driveby", "--out", str(fifo)], "not a regular file"),
    ]
    (tmp_path / "s.png").write_bytes(b"")
    for argv, said in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and said in err, (argv, err)
    assert photo.read_bytes() == b"not really a photo" and shipped.read_bytes() == before


@pytest.mark.parametrize("orientation", range(1, 9))
def test_images_are_read_upright_as_displayed(tmp_path, orientation):
    """A phone photo stores its pixels turned and says so in EXIF: read_image gives what a viewer shows
    (Pillow's exif_transpose), for all eight orientations."""
    from PIL import Image, ImageOps

    from patchsim.io.images import read_image

    rng = np.random.default_rng(orientation)
    stored = Image.fromarray(rng.integers(0, 256, (24, 40, 3), dtype=np.uint8))
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / "phone.png"
    stored.save(path, exif=exif)
    with Image.open(path) as im:
        shown = np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
    assert np.array_equal(read_image(path), shown)


def test_a_floating_point_image_is_refused_in_one_line(tmp_path):
    import cv2

    from patchsim.errors import PatchsimError
    from patchsim.io.images import read_image

    path = tmp_path / "hdr.tiff"
    cv2.imwrite(str(path), np.random.default_rng(0).random((8, 8, 3)).astype(np.float32))
    with pytest.raises(PatchsimError, match="floating-point|unsupported format"):  # refused, never misread
        read_image(path)


def test_a_scene_that_writes_a_key_twice_is_refused(tmp_path, capsys):
    """YAML keeps the last of two equal keys silently; a scene says which key and where instead."""
    text = (ROOT / "scenes" / "stop_driveby.yaml").read_text().replace("  width: 1280\n", "  width: 1280\n  width: 640\n")
    (tmp_path / "dup.yaml").write_text(text)
    assert main(["render", str(tmp_path / "dup.yaml"), "--n", "1", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'width'" in err and "twice" in err and not (tmp_path / "o").exists()


def test_a_fifo_or_a_folder_given_as_a_text_input_never_hangs(tmp_path, capsys):
    """Labels, corners, printer profiles: a FIFO (which would block the read forever), a folder or a missing
    file is one line before any work."""
    import os

    fifo = tmp_path / "labels.txt"
    os.mkfifo(fifo)
    photo = tmp_path / "p.png"
    write_png(photo, np.full((64, 64, 3), 128, np.uint8))
    cases = [
        ["classify", "byo_factory:tiny_net", str(photo), "--labels", str(fifo)],
        ["score", str(photo), "--corners", str(fifo), "--out", str(tmp_path / "s")],
    ]
    t = time.time()
    assert main(["evaluate", "stop_driveby", "--printer", str(tmp_path), "--out", str(tmp_path / "e")]) == 2
    capsys.readouterr()
    for argv in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "not a regular file" in err, (argv, err)
    assert time.time() - t < 30
    from patchsim.errors import PatchsimError
    from patchsim.io.text import read_user_text

    with pytest.raises(PatchsimError, match="not found"):
        read_user_text(tmp_path / "none.txt", "labels file")
    with pytest.raises(PatchsimError, match="not a regular file"):
        read_user_text(tmp_path, "corners file")


def test_array_data_is_checked_for_meaning_before_training_or_inspecting(tmp_path, capsys):
    """float images, labels out of range, a pickle, a zip bomb: one line each, exit 2, nothing trained."""
    import zipfile

    rng = np.random.default_rng(0)
    ok_x = rng.integers(0, 256, (6, 32, 32, 3), dtype=np.uint8)
    cases = {
        "float": dict(x=ok_x.astype(np.float32) / 255, y=np.zeros(6, np.int64)),
        "labels": dict(x=ok_x, y=np.array([0, 1, 2, 3, 4, 99])),
        "short": dict(x=ok_x, y=np.zeros(5, np.int64)),
    }
    for name, arrays in cases.items():
        data = tmp_path / name
        data.mkdir()
        np.savez(data / "train.npz", **arrays, track=np.arange(6))
        np.savez(data / "test.npz", **arrays)
        assert main(["train", "gtsrb-cnn", "--data", str(data), "--epochs", "1", "--out", str(tmp_path / f"{name}.safetensors")]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "GTSRB train data" in err, (name, err)
        assert main(["inspect-data", "gtsrb-cnn", "--data", str(data / "train.npz")]) == 2, name
        assert capsys.readouterr().err.count("\n") == 1
    bad = tmp_path / "pickle.npz"
    np.savez(bad, x=np.array([{"a": 1}], dtype=object), y=np.zeros(1, np.int64))
    assert main(["inspect-data", "gtsrb-cnn", "--data", str(bad)]) == 2
    assert "pickled objects are refused" in capsys.readouterr().err
    bomb = tmp_path / "bomb.npz"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("x.npy", b"\0" * (5 << 20))
    os.environ["PATCHSIM_MAX_NPZ_BYTES"] = str(1 << 20)
    try:
        assert main(["inspect-data", "gtsrb-cnn", "--data", str(bomb)]) == 2
        assert "over the limit" in capsys.readouterr().err
    finally:
        del os.environ["PATCHSIM_MAX_NPZ_BYTES"]


def test_memory_hungry_settings_are_capped_before_work(tmp_path, capsys):
    """--batch and a detector's --window grow memory without bound: capped in the config (the way to raise
    the cap named), before the optimiser allocates anything."""
    for argv, said in ((["--batch", "4096"], "PATCHSIM_MAX_BATCH"), (["--window", "2048"], "PATCHSIM_MAX_WINDOW")):
        t = time.time()
        assert main(["attack", "stop_driveby", *argv, "--out", str(tmp_path / "o")]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and said in err and time.time() - t < 20 and not (tmp_path / "o").exists()


def test_weights_problems_are_one_line(tmp_path, capsys):
    """A pickle that would run code, another architecture's weights, an unreadable image: one line each."""
    import pickle

    from patchsim.models.registry import build, load_strict
    from patchsim.errors import PatchsimError

    evil = tmp_path / "evil.pt"
    evil.write_bytes(pickle.dumps({"w": os.system}))
    photo = tmp_path / "p.png"
    write_png(photo, np.full((32, 32, 3), 100, np.uint8))
    assert main(["classify", "gtsrb-cnn", str(photo), "--weights", str(evil)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "safely" in err
    with pytest.raises(PatchsimError) as e:
        load_strict(build("gtsrb-resnet").net, build("gtsrb-cnn").net.state_dict(), "w.safetensors", "gtsrb-resnet")
    assert "\n" not in str(e.value) and "another architecture" in str(e.value)
    if os.geteuid() != 0:  # root reads everything
        photo.chmod(0)
        assert main(["classify", "gtsrb-cnn", str(photo)]) == 2
        assert "permission denied" in capsys.readouterr().err


def test_sigterm_unwinds_like_ctrl_c(tmp_path):
    """SIGTERM during a long render: one line, exit 143, the folder's lock released and the half-written
    run taken back (a folder holds a complete run or none)."""
    import signal
    import subprocess
    import sys

    out = tmp_path / "o"
    proc = subprocess.Popen([sys.executable, "-m", "patchsim.cli", "render", "stop_driveby", "--n", "5000", "--out",
                             str(out)], stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and not (out / "frames").is_dir():
        time.sleep(0.2)
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert err.strip().splitlines()[-1] == "patchsim render: terminated"
    assert not out.exists()  # the run created it, wrote part of its frames, and took them back


def test_a_video_cut_short_is_refused_unless_allowed(tmp_path, capsys):
    """A video that decodes fewer frames than its container states was cut or damaged: evaluate-real says
    so in one line and writes nothing; --allow-partial scores the frames it has."""
    import cv2

    full = tmp_path / "v.avi"
    w = cv2.VideoWriter(str(full), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 64))
    for i in range(40):
        w.write(np.full((64, 64, 3), 40 + 4 * i, np.uint8))
    w.release()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    assert main(["evaluate-real", str(cut), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--allow-partial" in err and "of the 40 frames" in err
    assert not (tmp_path / "r" / "metrics.json").exists()
    assert main(["evaluate-real", str(cut), "--allow-partial", "--out", str(tmp_path / "r"), "--force"]) == 0
    frames = json.loads((tmp_path / "r" / "metrics.json").read_text())["frames"]
    assert 0 < frames < 40
    assert main(["evaluate-real", str(full), "--out", str(tmp_path / "f")]) == 0
    assert json.loads((tmp_path / "f" / "metrics.json").read_text())["frames"] == 40


def test_force_keeps_unrelated_files_in_every_output_folder(tmp_path, capsys):
    """Every folder-writing command claims its folder through io.outputs (one policy); here each of
    detect, evaluate-real and the mechanism itself: unrelated files, at the top and inside the command's
    own sub-folders, survive --force, and the command's old outputs go."""
    from patchsim.io.outputs import output_folder

    imgs = tmp_path / "imgs"
    imgs.mkdir()
    for i in range(3):
        write_png(imgs / f"{i}.png", np.full((40, 40, 3), 60 * i, np.uint8))
    runs = {
        "detect": (["detect", "sign-det", str(imgs)], "annotated"),
        "evaluate-real": (["evaluate-real", str(imgs)], None),
    }
    for name, (argv, sub) in runs.items():
        out = tmp_path / name
        assert main(argv + ["--out", str(out)]) == 0, name
        (out / "mine.txt").write_text("mine")
        if sub:
            (out / sub / "mine.jpg").write_bytes(b"mine")
        assert main(argv + ["--out", str(out), "--force"]) == 0, name
        assert (out / "mine.txt").read_text() == "mine"
        if sub:
            assert (out / sub / "mine.jpg").read_bytes() == b"mine"
    capsys.readouterr()
    out = tmp_path / "generic"
    with output_folder(out, "thing", ("a.json", "deep")) as p:
        (p / "deep" / "er").mkdir(parents=True)
        (p / "deep" / "er" / "x.png").write_bytes(b"1")
        (p / "a.json").write_text("{}")
    (out / "deep" / "er" / "keep.png").write_bytes(b"mine")
    with output_folder(out, "thing", ("a.json", "deep"), force=True) as p:
        assert not (p / "a.json").exists() and not (p / "deep" / "er" / "x.png").exists()
    assert (out / "deep" / "er" / "keep.png").read_bytes() == b"mine"


def test_a_run_that_fails_midway_leaves_no_half_output(tmp_path, capsys):
    """detect over 10 images whose last one is corrupt past its header: the first batch's annotated
    images were written when the decoder fails; the run takes them back and says so in one line."""
    imgs = tmp_path / "imgs"
    imgs.mkdir()
    for i in range(10):
        write_png(imgs / f"{i:02d}.png", np.random.default_rng(i).integers(0, 256, (48, 48, 3), dtype=np.uint8))
    data = (imgs / "09.png").read_bytes()
    (imgs / "09.png").write_bytes(data[: len(data) // 2])  # the header reads, the pixels do not
    out = tmp_path / "out"
    assert main(["detect", "sign-det", str(imgs), "--out", str(out)]) != 0
    assert capsys.readouterr().err.count("\n") == 1
    assert not out.exists()


def test_an_existing_output_file_is_replaced_only_with_force(tmp_path, capsys):
    """train, calibrate and print write single files: an existing one is kept unless --force."""
    old = tmp_path / "w.safetensors"
    old.write_bytes(b"someone's weights")
    assert main(["train", "gtsrb-cnn", "--out", str(old)]) == 2
    assert "pass --force" in capsys.readouterr().err and old.read_bytes() == b"someone's weights"
    prof = tmp_path / "p.json"
    prof.write_text("{}")
    photo = tmp_path / "chart.png"
    write_png(photo, np.full((64, 64, 3), 128, np.uint8))
    assert main(["calibrate", str(photo), "--out", str(prof)]) == 2
    assert "pass --force" in capsys.readouterr().err and prof.read_text() == "{}"
