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
    cdef public bint strip_usage
    cdef public Py_ssize_t stripped
    cdef public Py_ssize_t text_bytes
    cdef public Py_ssize_t text_events
    cdef list _cuts
    cdef public object invalid_payload
    cdef Py_ssize_t _stop
    cpdef int feed(self, bytes chunk) except -1
    cpdef bytes relay(self, bytes chunk)
    cpdef bytes held(self)
    cdef bytes _join(self, bytes chunk)
    cdef int _split(self, bytes data) except -1
    cdef int _inspect(self, bytes event) except -1

cdef bint _is_error_payload(bytes payload)
cdef bint _is_json(bytes payload) except -1
cdef object _string_after_key(bytes payload, bytes key)
cdef Py_ssize_t _text_length(bytes payload) except -1
cdef Py_ssize_t _name_text(bytes payload, bytes name) except -1
cdef Py_ssize_t _value_at(bytes payload, Py_ssize_t i) except *
cdef Py_ssize_t _string_end(bytes payload, Py_ssize_t i) except -2
cdef int _name_before(char* data, Py_ssize_t q) except -2
cdef bint _no_choices(bytes payload) except -1
