# The compiled twin has exactly the types of the pure module.
from .buckets import ParallelCounter as ParallelCounter
from .buckets import TokenBucketTable as TokenBucketTable
