"""The sign-view cache: a cached view is exactly the computed one; an edited photo is recomputed."""

import os

import numpy as np

from patchsim.io.images import read_image, write_png
from patchsim.realphoto import view_cache
from patchsim.realphoto.views import view_sign
from patchsim.realphoto.placement import FacePyramid
from patchsim.realphoto.sources import SignPhoto
from patchsim.signs import draw_face_array

from conftest import needs_shared, SHARED


@needs_shared("rp2", "victims_256", "1.png")
def test_cached_view_equals_the_computed_one_and_follows_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("PATCHSIM_CACHE", str(tmp_path / "cache"))
    photo = tmp_path / "1.png"
    photo.write_bytes((SHARED / "rp2" / "victims_256" / "1.png").read_bytes())
    sp = SignPhoto("test", str(photo), "1.png", "scoring")
    face = FacePyramid(draw_face_array("stop", 1024))
    first = view_sign(sp, face, "stop", "tone", 0.1)
    assert not isinstance(first, str)
    assert len(list((tmp_path / "cache" / "sign_views").iterdir())) == 2  # where the sign is, and its tone light

    import patchsim.realphoto.views as ps

    def no_fit(*a, **k):
        raise AssertionError("the light was fitted again")

    def no_locate(*a, **k):
        raise AssertionError("the sign was located again")

    monkeypatch.setattr(ps, "locate_sign", no_locate)
    other = view_sign(sp, face, "stop", "physical", 0.1)  # another model: its own light, the cached location
    assert np.array_equal(other.img_from_face, first.img_from_face) and other.light.relight.method == "physical"
    assert len(list((tmp_path / "cache" / "sign_views").iterdir())) == 3
    monkeypatch.setattr(ps, "sign_light", no_fit)
    second = view_sign(sp, face, "stop", "tone", 0.1)  # served from the cache: no light fit
    assert np.array_equal(second.img_from_face, first.img_from_face) and second.light == first.light
    assert second.box == first.box and second.located_by == first.located_by

    img = read_image(photo)
    write_png(photo, np.clip(img.astype(int) + 40, 0, 255).astype(np.uint8))  # the photo changes
    os.utime(photo, ns=(os.stat(photo).st_atime_ns, os.stat(photo).st_mtime_ns + 10**9))
    monkeypatch.undo()
    monkeypatch.setenv("PATCHSIM_CACHE", str(tmp_path / "cache"))
    third = view_sign(sp, face, "stop", "tone", 0.1)
    assert third.light != first.light  # recomputed for the brighter photo
    monkeypatch.setenv("PATCHSIM_CACHE", "off")
    assert view_cache.cache_dir() is None and view_sign(sp, face, "stop", "tone", 0.1).light == third.light
