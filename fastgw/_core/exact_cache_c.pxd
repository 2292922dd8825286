# cython: language_level=3
# Declarations for fastgw/_core/exact_cache.py compiled as fastgw._core.exact_cache_c. Cython
# looks a .pxd up by the compiled module's name, hence exact_cache_c.pxd. cythonize does not
# see a change to this file alone (it tracks exact_cache.py's own name): touch exact_cache.py
# after editing it.
cimport cython

cdef Py_ssize_t _KEY_SIZE
cdef double _monotonic() noexcept nogil


@cython.final
cdef class _Entry:
    cdef bytes key
    cdef bytes value
    cdef tuple pair
    cdef tuple tag
    cdef double expires
    cdef _Entry newer
    cdef _Entry older


@cython.final
cdef class ExactCache:
    cdef dict _map
    cdef _Entry _root
    cdef object _clock
    cdef readonly Py_ssize_t max_entries
    cdef readonly Py_ssize_t max_bytes
    cdef readonly Py_ssize_t hits
    cdef readonly Py_ssize_t misses
    cdef readonly Py_ssize_t evictions
    cdef readonly Py_ssize_t expirations
    cdef readonly Py_ssize_t total_bytes

    cpdef object get(self, bytes key)
    cpdef object get_with_meta(self, bytes key)
    cpdef bint put(self, bytes key, bytes value, double ttl_s, object meta=*, object tag=*) except -1
    cdef _Entry _find(self, bytes key)
    cpdef bint delete(self, bytes key) except -1
    cpdef void clear(self) except *
    cpdef Py_ssize_t purge_expired(self) except -1
    cpdef Py_ssize_t purge_tagged(self, str namespace, str model) except -1
    cpdef list snapshot(self)
    cdef double _now(self) except? -1.0
    cdef void _link_front(self, _Entry entry) noexcept
    cdef int _drop(self, _Entry entry) except -1
