/* Optional accelerator for protocol/frames.py: the WebSocket masking XOR.
 *
 * apply_mask(data, mask, offset=0) -> bytes behaves exactly like the pure-Python
 * frames.apply_mask: ``data`` (any C-contiguous buffer) XORed with the 4-byte ``mask``
 * as if it started ``offset`` bytes into the payload. PayloadBuffer (below) is the
 * compiled frames.Payload: a large frame's payload, read into place. The XOR loop
 * works eight bytes at a time (memcpy keeps unaligned loads portable; compilers turn
 * it into plain moves).
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
        key[k] = mask[(k + (offset & 3)) & 3];
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

/* PayloadBuffer(size): one large frame's payload, written into a bytes object made for
 * it. A transport can read straight into the unfilled part (the buffer protocol gives
 * a writable view of the whole), take(mask) unmasks in place and hands the bytes
 * object out: no copy between the socket and the message but the unmasking pass.
 * The bytes is not visible to Python until take(), and is never written after it: its
 * one user, protocol/connection.py, keeps no view across take(), and a transport still
 * holding the view it read into does not write into it again. */
typedef struct {
    PyObject_HEAD
    PyObject *data;     /* the payload's bytes object; kept until dealloc */
    Py_ssize_t filled;  /* bytes written so far */
    int taken;
} PayloadBuffer;

static int
payload_init(PayloadBuffer *self, PyObject *args, PyObject *kwds)
{
    Py_ssize_t size;
    static char *kwlist[] = {"size", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "n", kwlist, &size)) {
        return -1;
    }
    if (size < 0) {
        PyErr_SetString(PyExc_ValueError, "size must not be negative");
        return -1;
    }
    if (self->data != NULL) {  /* a view may point into it: never replaced */
        PyErr_SetString(PyExc_TypeError, "a PayloadBuffer is initialised once");
        return -1;
    }
    self->data = PyBytes_FromStringAndSize(NULL, size);
    if (self->data == NULL) {
        return -1;
    }
    self->filled = 0;
    self->taken = 0;
    return 0;
}

static void
payload_dealloc(PayloadBuffer *self)
{
    Py_CLEAR(self->data);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int
payload_check(PayloadBuffer *self)
{
    if (self->data == NULL || self->taken) {
        PyErr_SetString(PyExc_ValueError, "the payload was taken already");
        return -1;
    }
    return 0;
}

static int
payload_getbuffer(PayloadBuffer *self, Py_buffer *view, int flags)
{
    if (payload_check(self) < 0) {
        view->obj = NULL;
        return -1;
    }
    return PyBuffer_FillInfo(view, (PyObject *)self, PyBytes_AS_STRING(self->data),
                             PyBytes_GET_SIZE(self->data), 0, flags);
}

static PyBufferProcs payload_as_buffer = {
    (getbufferproc)payload_getbuffer,
    NULL,
};

static PyObject *
payload_write(PayloadBuffer *self, PyObject *arg)
{
    Py_buffer data;
    if (payload_check(self) < 0) {
        return NULL;
    }
    if (PyObject_GetBuffer(arg, &data, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    if (data.len > PyBytes_GET_SIZE(self->data) - self->filled) {
        PyBuffer_Release(&data);
        PyErr_SetString(PyExc_ValueError, "more bytes than the payload has room for");
        return NULL;
    }
    /* memmove: data may be a view of this very buffer */
    memmove(PyBytes_AS_STRING(self->data) + self->filled, data.buf, data.len);
    self->filled += data.len;
    PyBuffer_Release(&data);
    Py_RETURN_NONE;
}

static PyObject *
payload_advance(PayloadBuffer *self, PyObject *arg)
{
    Py_ssize_t n = PyLong_AsSsize_t(arg);
    if (n == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (payload_check(self) < 0) {
        return NULL;
    }
    if (n < 0 || n > PyBytes_GET_SIZE(self->data) - self->filled) {
        PyErr_SetString(PyExc_ValueError, "advance past the end of the payload");
        return NULL;
    }
    self->filled += n;
    Py_RETURN_NONE;
}

static PyObject *
payload_take(PayloadBuffer *self, PyObject *mask)
{
    unsigned char key[4];
    if (payload_check(self) < 0) {
        return NULL;
    }
    if (self->filled != PyBytes_GET_SIZE(self->data)) {
        PyErr_SetString(PyExc_ValueError, "the payload is not complete");
        return NULL;
    }
    if (mask != Py_None && get_mask(mask, key) < 0) {
        return NULL;
    }
    self->taken = 1;  /* before the unmasking, which may release the GIL */
    if (mask != Py_None) {
        unsigned char *buf = (unsigned char *)PyBytes_AS_STRING(self->data);
        xor_mask_at(buf, buf, self->filled, key, 0);
    }
    Py_INCREF(self->data);
    return self->data;
}

static PyObject *
payload_get_filled(PayloadBuffer *self, void *closure)
{
    (void)closure;
    return PyLong_FromSsize_t(self->filled);
}

static PyObject *
payload_view(PayloadBuffer *self, PyObject *unused)
{
    PyObject *whole, *rest;
    (void)unused;
    if (payload_check(self) < 0) {
        return NULL;
    }
    whole = PyMemoryView_FromObject((PyObject *)self);
    if (whole == NULL) {
        return NULL;
    }
    rest = PySequence_GetSlice(whole, self->filled, PyBytes_GET_SIZE(self->data));
    Py_DECREF(whole);
    return rest;
}

static PyMethodDef payload_methods[] = {
    {"view", (PyCFunction)payload_view, METH_NOARGS,
     "view() -> memoryview: the unfilled part, for reading straight into."},
    {"write", (PyCFunction)payload_write, METH_O,
     "write(data): append bytes after those already written."},
    {"advance", (PyCFunction)payload_advance, METH_O,
     "advance(n): n bytes were read straight into the unfilled part."},
    {"take", (PyCFunction)payload_take, METH_O,
     "take(mask) -> bytes: the complete payload, unmasked when mask is not None."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef payload_getset[] = {
    {"filled", (getter)payload_get_filled, NULL, "bytes written so far", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject PayloadBufferType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "tidewire.protocol._speedups.PayloadBuffer",
    .tp_basicsize = sizeof(PayloadBuffer),
    .tp_dealloc = (destructor)payload_dealloc,
    .tp_as_buffer = &payload_as_buffer,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "PayloadBuffer(size): a large frame's payload, read into place.",
    .tp_methods = payload_methods,
    .tp_getset = payload_getset,
    .tp_init = (initproc)payload_init,
    .tp_new = PyType_GenericNew,
};

static PyMethodDef speedups_methods[] = {
    {"apply_mask", (PyCFunction)(void (*)(void))apply_mask, METH_FASTCALL,
     "apply_mask(data, mask, offset=0) -> bytes\n\n"
     "XOR data with the 4-byte mask, as if it started offset bytes into a payload."},
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
    PyObject *module;
    if (PyType_Ready(&PayloadBufferType) < 0) {
        return NULL;
    }
    module = PyModule_Create(&speedups_module);
    if (module == NULL) {
        return NULL;
    }
    Py_INCREF(&PayloadBufferType);
    if (PyModule_AddObject(module, "PayloadBuffer", (PyObject *)&PayloadBufferType) < 0) {
        Py_DECREF(&PayloadBufferType);
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
