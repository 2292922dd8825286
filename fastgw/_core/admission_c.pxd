# cython: language_level=3
# Declarations for fastgw/_core/admission.py compiled as fastgw._core.admission_c. Cython looks
# a .pxd up by the compiled module's name, hence admission_c.pxd. cythonize does not see a
# change to this file alone (it tracks admission.py's own name): touch admission.py after
# editing it.
cimport cython

cdef tuple _MS_TEXT
cdef tuple _NO_SPENDS

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


@cython.final
cdef class Gate:
    cdef readonly object table
    cdef readonly object counters
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

    cpdef void set_period(self, double day_start, double day_end, tuple spends, tuple limits) except *
    cpdef object admit(self, Py_ssize_t tokens, double estimated_cost)
    cdef void _fail(self, int why, Py_ssize_t which, double now, list headers) noexcept


cpdef void settle_ticket(
    object table, object counters, Ticket ticket, Py_ssize_t tokens, double cost
) except *
