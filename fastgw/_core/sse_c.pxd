# cython: language_level=3
cdef class SSEFramer:
    cdef bytes _buf
    cdef bint _cr
    cdef public int events
    cdef public bint done
    cdef public object finish_reason
    cdef public object usage_payload
    cdef public object error_payload
    cdef public object payloads
    cpdef int feed(self, bytes chunk) except -1
    cdef void _inspect(self, bytes event)

cdef bint _is_error_payload(bytes payload)
cdef object _string_after_key(bytes payload, bytes key)
