# The compiled twin has exactly the types of the pure module.
from .exact_cache import ExactCache as ExactCache
