/* Optional accelerator for protocol/frames.py: the WebSocket masking XOR.
 *
 * apply_mask(data, mask, offset=0) -> bytes behaves exactly like the pure-Python
 * frames.apply_mask: ``data`` (any C-contiguous buffer) XORed with the 4-byte ``mask``
 * as if it started ``offset`` bytes into the payload. join_masked(chunks, mask) is
 * frames.join_masked: a payload that arrived in pieces, unmasked straight into one
 * new bytes object (one pass, no intermediate copies). The loop works eight bytes at a
 * time (memcpy keeps unaligned loads portable; compilers turn it into plain moves).
 * The GIL is released for large payloads.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define RELEASE_GIL_FROM 65536

static void
xor_mask(const unsigned char *src, unsigned char *dst, Py_ssize_t size,
         const unsigned char key[4])
{
    uint32_t key32;
    uint64_t key64;
    Py_ssize_t i = 0;

    memcpy(&key32, key, 4);
    key64 = ((uint64_t)key32 << 32) | key32;
    for (; i + 32 <= size; i += 32) {
        uint64_t a, b, c, d;
        memcpy(&a, src + i, 8);
        memcpy(&b, src + i + 8, 8);
        memcpy(&c, src + i + 16, 8);
        memcpy(&d, src + i + 24, 8);
        a ^= key64;
        b ^= key64;
        c ^= key64;
        d ^= key64;
        memcpy(dst + i, &a, 8);
        memcpy(dst + i + 8, &b, 8);
        memcpy(dst + i + 16, &c, 8);
        memcpy(dst + i + 24, &d, 8);
    }
    for (; i + 8 <= size; i += 8) {
        uint64_t a;
        memcpy(&a, src + i, 8);
        a ^= key64;
        memcpy(dst + i, &a, 8);
    }
    for (; i < size; i++) {
        dst[i] = src[i] ^ key[i & 3];
    }
}

static void
xor_mask_at(const unsigned char *src, unsigned char *dst, Py_ssize_t size,
            const unsigned char mask[4], Py_ssize_t offset)
{
    unsigned char key[4];
    for (int k = 0; k < 4; k++) {
        key[k] = mask[(k + offset) & 3];
    }
    if (size >= RELEASE_GIL_FROM) {
        Py_BEGIN_ALLOW_THREADS
        xor_mask(src, dst, size, key);
        Py_END_ALLOW_THREADS
    }
    else {
        xor_mask(src, dst, size, key);
    }
}

/* The 4-byte mask of ``obj``, copied into ``key``; -1 with an exception otherwise. */
static int
get_mask(PyObject *obj, unsigned char key[4])
{
    Py_buffer mask;
    if (PyObject_GetBuffer(obj, &mask, PyBUF_SIMPLE) < 0) {
        return -1;
    }
    if (mask.len != 4) {
        PyBuffer_Release(&mask);
        PyErr_SetString(PyExc_ValueError, "mask must be 4 bytes long");
        return -1;
    }
    memcpy(key, mask.buf, 4);
    PyBuffer_Release(&mask);
    return 0;
}

static PyObject *
join_masked(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    PyObject *chunks, *result;
    Py_ssize_t count, total = 0, pos = 0;
    unsigned char key[4];

    (void)module;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "join_masked(chunks, mask)");
        return NULL;
    }
    if (get_mask(args[1], key) < 0) {
        return NULL;
    }
    chunks = PySequence_Fast(args[0], "chunks must be a sequence of buffers");
    if (chunks == NULL) {
        return NULL;
    }
    count = PySequence_Fast_GET_SIZE(chunks);
    Py_buffer *views = PyMem_Calloc(count ? count : 1, sizeof(Py_buffer));
    if (views == NULL) {
        Py_DECREF(chunks);
        return PyErr_NoMemory();
    }
    Py_ssize_t got = 0;
    result = NULL;
    for (; got < count; got++) {
        PyObject *item = PySequence_Fast_GET_ITEM(chunks, got);
        if (PyObject_GetBuffer(item, &views[got], PyBUF_SIMPLE) < 0) {
            goto done;
        }
        total += views[got].len;
    }
    result = PyBytes_FromStringAndSize(NULL, total);
    if (result == NULL) {
        goto done;
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        xor_mask_at((const unsigned char *)views[i].buf,
                    (unsigned char *)PyBytes_AS_STRING(result) + pos, views[i].len, key, pos);
        pos += views[i].len;
    }
done:
    for (Py_ssize_t i = 0; i < got; i++) {
        PyBuffer_Release(&views[i]);
    }
    PyMem_Free(views);
    Py_DECREF(chunks);
    return result;
}

static PyObject *
apply_mask(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer data;
    Py_ssize_t offset = 0;
    unsigned char key[4];
    PyObject *result;

    (void)module;
    if (nargs < 2 || nargs > 3) {
        PyErr_SetString(PyExc_TypeError, "apply_mask(data, mask, offset=0)");
        return NULL;
    }
    if (nargs == 3) {
        offset = PyLong_AsSsize_t(args[2]);
        if (offset == -1 && PyErr_Occurred()) {
            return NULL;
        }
        if (offset < 0) {
            PyErr_SetString(PyExc_ValueError, "offset must not be negative");
            return NULL;
        }
    }
    if (get_mask(args[1], key) < 0) {
        return NULL;
    }
    if (PyObject_GetBuffer(args[0], &data, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    result = PyBytes_FromStringAndSize(NULL, data.len);
    if (result != NULL && data.len) {
        xor_mask_at((const unsigned char *)data.buf, (unsigned char *)PyBytes_AS_STRING(result),
                    data.len, key, offset);
    }
    PyBuffer_Release(&data);
    return result;
}

static PyMethodDef speedups_methods[] = {
    {"apply_mask", (PyCFunction)(void (*)(void))apply_mask, METH_FASTCALL,
     "apply_mask(data, mask, offset=0) -> bytes\n\n"
     "XOR data with the 4-byte mask, as if it started offset bytes into a payload."},
    {"join_masked", (PyCFunction)(void (*)(void))join_masked, METH_FASTCALL,
     "join_masked(chunks, mask) -> bytes\n\n"
     "The chunks of one masked payload, joined and unmasked in a single pass."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef speedups_module = {
    PyModuleDef_HEAD_INIT,
    "_speedups",
    "Compiled hot loops for tidewire.protocol (optional).",
    -1,
    speedups_methods,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    return PyModule_Create(&speedups_module);
}
