"""Sign catalogue: canonical faces, silhouettes, physical sizes, GTSRB ids; faces from real images."""

from patchsim.signs.catalogue import SIGNS, SignSpec, draw_face, draw_face_array, get_sign, shape_mask
from patchsim.signs.sticker_mask import cut_pixels, sticker_alpha, sticker_mask
from patchsim.signs.texture import face_from_photo, face_from_rgba

__all__ = ["SIGNS", "SignSpec", "draw_face", "draw_face_array", "get_sign", "shape_mask", "cut_pixels", "sticker_alpha", "sticker_mask",
           "face_from_photo", "face_from_rgba", "load_face"]


def load_face(scene, resolution: int = 256):
    """The scene's sign face (catalogue drawing, RGBA image or rectified photo): ``(4, N, N)`` float32."""
    f = scene.sign.face
    if f.kind == "procedural":
        return draw_face(scene.sign.class_name, resolution)
    if f.kind == "rgba":
        return face_from_rgba(scene.resolve(f.path), scene.sign.class_name, resolution)
    return face_from_photo(scene.resolve(f.path), f.corners, scene.sign.class_name, resolution)
