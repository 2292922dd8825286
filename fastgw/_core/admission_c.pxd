# cython: language_level=3
# Declarations for fastgw/_core/admission.py compiled as fastgw._core.admission_c. Cython looks
# a .pxd up by the compiled module's name, hence admission_c.pxd. cythonize does not see a
# change to this file alone (it tracks admission.py's own name): touch admission.py after
# editing it.
cimport cython

from fastgw._core.buckets_c cimport ParallelCounter, TokenBucketTable

cdef Py_ssize_t PER_MESSAGE
cdef Py_ssize_t PER_REPLY
cdef double _PER_TOKEN
cdef Py_ssize_t TOKEN_CEILING
cdef object _CEILING
cdef tuple _MS_TEXT
cdef tuple _NO_SPENDS

cpdef Py_ssize_t estimate_messages(list messages, object other) except -1
cpdef Py_ssize_t token_count(object value) except -1
cpdef Py_ssize_t chat_allowance(
    object max_completion_tokens, object max_tokens, object n, Py_ssize_t default
) except -1
cpdef str format_reset(double seconds)
cdef str _remaining(double left)


@cython.final
cdef class Spend:
    cdef public double spent
    cdef public double reserved

    cpdef void commit(self, double reserved, double cost) noexcept


@cython.final
cdef class Ticket:
    cdef public str backend
    cdef public object tokens
    cdef public double estimated_cost
    cdef public object buckets
    cdef public object parallel
    cdef public object budgets
    cdef public list headers
    cdef public bint settled

    cdef void _fill(
        self,
        str backend,
        object tokens,
        double estimated_cost,
        object buckets,
        object parallel,
        object budgets,
        list headers,
    ) noexcept


@cython.final
cdef class Gate:
    cdef readonly TokenBucketTable table
    cdef readonly ParallelCounter counters
    cdef readonly tuple requests
    cdef readonly tuple tokens
    cdef readonly tuple request_handles
    cdef readonly tuple token_handles
    cdef readonly tuple request_limits
    cdef readonly tuple token_limits
    cdef readonly tuple parallel_handles
    cdef readonly tuple parallel_limits
    cdef readonly bint has_budgets
    cdef readonly tuple budget_spends
    cdef readonly tuple budget_limits
    cdef readonly double day_start
    cdef readonly double day_end
    cdef object wall
    cdef readonly int failure
    cdef readonly Py_ssize_t failed
    cdef readonly double now
    cdef readonly list headers
    cdef readonly Py_ssize_t default_completion
    cdef readonly double price_input
    cdef readonly double price_output
    cdef readonly object other
    cdef readonly Py_ssize_t asked_tokens
    cdef readonly double asked_cost
    cdef readonly double reserve_share
    cdef readonly double reserve_cap

    cpdef void set_reservation(
        self, Py_ssize_t default_completion, double price_input, double price_output, object other
    ) except *
    cpdef void set_reserve_share(self, double share) except *
    cdef void _set_cap(self) except *
    cpdef object admit_chat(self, list messages, object max_completion_tokens, object max_tokens, object n)
    cpdef object admit_reserved(self, object prompt, object allowance)
    cpdef void set_period(self, double day_start, double day_end, tuple spends, tuple limits) except *
    cpdef object admit(self, Py_ssize_t tokens, double estimated_cost)
    cdef void _fail(self, int why, Py_ssize_t which, double now, list headers) noexcept


cdef Ticket _new_ticket(
    Py_ssize_t tokens,
    double estimated_cost,
    tuple buckets,
    list parallel,
    tuple budgets,
    list headers,
)


cpdef void settle_ticket(
    TokenBucketTable table, ParallelCounter counters, Ticket ticket, Py_ssize_t tokens, double cost
) except *
