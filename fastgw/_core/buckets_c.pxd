# cython: language_level=3
# Declarations for fastgw/_core/buckets.py compiled as fastgw._core.buckets_c. Cython looks a
# .pxd up by the compiled module's name, hence buckets_c.pxd. cythonize does not see a change
# to this file alone (it tracks buckets.py's own name): touch buckets.py after editing it.
cimport cython

cdef double _INF
cdef double _TOLERANCE
cdef Py_ssize_t _FIRST_SLOTS

cdef double _monotonic() noexcept nogil


@cython.final
cdef class TokenBucketTable:
    cdef double* _rate
    cdef double* _capacity
    cdef double* _level
    cdef double* _stamp
    cdef Py_ssize_t _count
    cdef Py_ssize_t _slots
    cdef dict _handles
    cdef object _clock
    cdef double _wait
    cdef double _least
    cdef double _reset

    cpdef Py_ssize_t configure(self, str key, double rate, double capacity) except -1
    cpdef Py_ssize_t handle(self, str key) except -1
    cpdef double try_acquire(self, Py_ssize_t handle, double cost) except -1.0
    cpdef Py_ssize_t acquire_all(self, tuple requests, tuple tokens, double cost) except -2
    cpdef double last_wait(self)
    cpdef void settle_all(self, tuple handles, double delta) except *
    cpdef object tightest(self, tuple handles)
    cdef Py_ssize_t _tightest(self, tuple handles) except -2
    cdef double _take(self, Py_ssize_t handle, double cost, double now) except? -1.0
    cdef void _give_back(
        self, tuple requests, tuple tokens, Py_ssize_t upto, double cost, double now
    ) except *
    cpdef void settle(self, Py_ssize_t handle, double delta) except *
    cpdef double remaining(self, Py_ssize_t handle) except? -1.0
    cpdef double reset_after(self, Py_ssize_t handle) except -1.0
    cdef double _refill(self, Py_ssize_t handle) except? -1.0
    cdef double _refill_at(self, Py_ssize_t handle, double now) noexcept
    cdef double _now(self) except? -1.0
    cdef int _grow(self) except -1


@cython.final
cdef class ParallelCounter:
    cdef Py_ssize_t* _active
    cdef Py_ssize_t _count
    cdef Py_ssize_t _slots
    cdef dict _handles

    cpdef Py_ssize_t register(self, str key) except -1
    cpdef Py_ssize_t handle(self, str key) except -1
    cpdef bint try_enter(self, Py_ssize_t handle, Py_ssize_t limit) except -1
    cpdef void leave(self, Py_ssize_t handle) except *
    cpdef Py_ssize_t active(self, Py_ssize_t handle) except -1
    cdef int _grow(self) except -1
