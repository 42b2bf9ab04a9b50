"""Scene files: YAML describing a physical situation, loaded into typed, frozen dataclasses.

Every field is checked; a bad one raises :class:`SceneError` naming the file, the field path, the bad
value and what is allowed. Unknown keys are rejected. Paths inside a scene are relative to the scene
file. Units: metres, degrees, pixels, seconds, kelvin; sticker regions in sign-face millimetres with the
origin at the top-left corner of the face's bounding square, x right, y down.

Modules: :mod:`~patchsim.scene.types` (the dataclasses), :mod:`~patchsim.scene.schema` (parsing and
bounds, and the scene back in its file form), :mod:`~patchsim.scene.io` (finding and loading files).
Nothing in this package imports the package itself, so the import graph has no cycle."""

from patchsim.scene.io import find_scene, load_scene, scene_fingerprint, scene_to_dict
from patchsim.scene.schema import BOUNDS, parse_scene, scene_to_data
from patchsim.scene.types import *  # noqa: F401,F403
from patchsim.scene.types import __all__ as _types

__all__ = ["find_scene", "load_scene", "scene_fingerprint", "scene_to_dict", "parse_scene", "scene_to_data", "BOUNDS", *_types]
