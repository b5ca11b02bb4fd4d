"""Expression spaces as data: what each channel of an expression code means.

Trackers declare the space they emit, renderers and audio drivers the space they
consume; the resolver refuses a recipe whose spaces don't meet unless it declares a map.
"""

from avatarzoo.spaces.space import REGIONS, ExpressionSpace, Region
from avatarzoo.spaces.registry import get_space, list_spaces, register_space

__all__ = ["REGIONS", "ExpressionSpace", "Region", "get_space", "list_spaces", "register_space"]
