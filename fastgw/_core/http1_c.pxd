# cython: language_level=3
# Typed declarations for fastgw/_core/http1.py compiled as fastgw._core.http1_c.

cdef class Connection:
    cdef public object pool
    cdef public object loop
    cdef public object transport
    cdef public object parser
    cdef public bint reused
    cdef public double idle_since
    cdef public int status
    cdef public list headers
    cdef public bint head_done
    cdef public bint complete
    cdef public bint keep_alive
    cdef public Py_ssize_t received
    cdef public object chunks
    cdef public object error
    cdef object _waiter
    cdef bint _interim
    cdef public bint paused
    cdef public object sink
    cdef public bint sink_open
    cdef public double last_body

    cpdef void reset(self)
    cdef bint _length_unknown(self)
    cdef void _wake(self)
    cdef void _fail(self, error)
    cpdef bytes take_chunk(self)
    cpdef bint prepare_idle(self)


cdef class UpstreamResponse:
    cdef Connection _conn
    cdef double _idle_s
    cdef double _deadline
    cdef public int status
    cdef public list headers
