"""Differentiable renderer (torch + kornia): conditions, samplers, geometry, fragments, shading,
background, camera effects and the :class:`Renderer` that chains them."""

from patchsim.render.conditions import Conditions
from patchsim.render.renderer import Renderer, RenderOutput, composite_sticker
from patchsim.render.sampler import draw_visible, sample_driveby, sample_eot, sample_grid

__all__ = ["Conditions", "Renderer", "RenderOutput", "composite_sticker", "draw_visible", "sample_driveby",
           "sample_eot", "sample_grid"]
