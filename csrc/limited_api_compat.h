/* Force-included (by setup.py) into the Limited API (abi3) build of the hot path only.
 *
 * The stable ABI has no GET_ITEM/GET_SIZE macros for lists and tuples; Cython code that cimports them
 * from cpython.list / cpython.tuple would otherwise compile to calls of undeclared functions. Their
 * checked function forms return the same borrowed item or size for an in-range index, which is all the
 * hot path asks of them. Macros with other semantics (the stealing SET_ITEM forms) are left out on
 * purpose: using one fails the abi3 build instead of changing behaviour.
 */
#ifndef NORNFLOW_LIMITED_API_COMPAT_H
#define NORNFLOW_LIMITED_API_COMPAT_H
#ifdef Py_LIMITED_API
#define PyList_GET_ITEM(op, i) PyList_GetItem((op), (i))
#define PyList_GET_SIZE(op) PyList_Size(op)
#define PyTuple_GET_ITEM(op, i) PyTuple_GetItem((op), (i))
#define PyTuple_GET_SIZE(op) PyTuple_Size(op)
#endif
#endif
