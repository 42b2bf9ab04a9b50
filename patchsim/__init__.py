"""patchsim: physical-world adversarial patch simulator.

Pipeline: ``scene (YAML) -> sampled conditions -> render -> model -> loss or metrics -> outputs``.
See ``docs/conventions.md`` for frames, units, pixel centres and colour spaces.
"""

__version__ = "0.1.0"

from patchsim.errors import PatchsimError, SceneError, ShapeError, SignNotVisibleError

__all__ = ["PatchsimError", "SceneError", "ShapeError", "SignNotVisibleError", "__version__"]
