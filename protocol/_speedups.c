/* Optional accelerator for protocol/frames.py and protocol/connection.py.
 *
 * apply_mask(data, mask, offset=0) -> bytes behaves exactly like the pure-Python
 * frames.apply_mask: ``data`` (any C-contiguous buffer) XORed with the 4-byte ``mask``
 * as if it started ``offset`` bytes into the payload. PayloadBuffer (below) is the
 * compiled frames.Payload: a large frame's payload, read into place. MessageReader
 * turns whole plain frames into messages without the interpreter (a 64 B frame costs
 * ~0.1 us instead of ~1.1 us) and leaves every other frame to connection.py.
 * The XOR loop works eight bytes at a time (memcpy keeps unaligned loads portable;
 * compilers turn it into plain moves). The GIL is released for large payloads.
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

/* A new bytes object: ``size`` bytes of ``src`` XORed with ``key`` from ``offset``. */
static PyObject *
masked_bytes(const unsigned char *src, Py_ssize_t size, const unsigned char key[4],
             Py_ssize_t offset)
{
    PyObject *result = PyBytes_FromStringAndSize(NULL, size);
    if (result != NULL && size) {
        xor_mask_at(src, (unsigned char *)PyBytes_AS_STRING(result), size, key, offset);
    }
    return result;
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
    result = masked_bytes((const unsigned char *)data.buf, data.len, key, offset);
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
    PyObject *data;       /* the payload's bytes object; kept until dealloc */
    Py_ssize_t capacity;  /* bytes allocated for it: at least its size */
    Py_ssize_t filled;    /* bytes written so far */
    int taken;
} PayloadBuffer;

/* Spare payloads. A fresh 1 MiB bytes object costs ~250 page faults whenever malloc has
 * given the previous one back to the system (it trims the heap top past 2 MiB free), a
 * fifth of a 1 MiB echo's server time. So the last few payloads handed out stay here,
 * and one whose only reference left is this pool becomes the next payload of a size it
 * fits: nobody else can see its bytes change. Eight slots cover an echo whose peer keeps
 * eight 1 MiB messages in flight (the read queue and the transport hold them meanwhile);
 * SPARE_BUDGET bounds the memory they keep. Free-threaded builds skip this (refcounts
 * there do not prove exclusive ownership). */
#define RECYCLE_FROM 65536
#define RECYCLE_MAX (4 << 20)
#ifndef Py_GIL_DISABLED
#define SPARES 8
#define SPARE_BUDGET (16 << 20)

typedef struct {
    PyObject *data;
    Py_ssize_t capacity;
    unsigned long long kept_at;  /* spare_clock when kept: the lowest is the oldest */
} Spare;

static Spare spares[SPARES];
static Py_ssize_t spare_bytes;  /* the capacities of the slots holding a payload */
static unsigned long long spare_clock;

/* Empty a slot; returns its payload (a new reference, or NULL when it was empty). */
static PyObject *
pop_spare(Spare *spare)
{
    PyObject *data = spare->data;
    if (data != NULL) {
        spare->data = NULL;
        spare_bytes -= spare->capacity;
    }
    return data;
}

/* The smallest unshared spare bytes object of capacity in [size, 2 * size), resized to
 * ``size``; NULL when there is none. */
static PyObject *
reuse_spare(Py_ssize_t size, Py_ssize_t *capacity)
{
    Spare *best = NULL;
    for (int i = 0; i < SPARES; i++) {
        Spare *spare = &spares[i];
        if (spare->data != NULL && Py_REFCNT(spare->data) == 1 && spare->capacity >= size
            && spare->capacity / 2 < size
            && (best == NULL || spare->capacity < best->capacity)) {
            best = spare;
        }
    }
    if (best != NULL) {
        *capacity = best->capacity;
        PyObject *data = pop_spare(best);
        Py_SET_SIZE(data, size);
        PyBytes_AS_STRING(data)[size] = '\0';
        _Py_COMP_DIAG_PUSH  /* ob_shash is deprecated, still there, still cached */
        _Py_COMP_DIAG_IGNORE_DEPR_DECLS
        ((PyBytesObject *)data)->ob_shash = -1;  /* its old hash, if ever taken */
        _Py_COMP_DIAG_POP
        return data;
    }
    return NULL;
}

/* The oldest payload kept other than ``keep``'s; NULL when there is none. */
static Spare *
oldest_spare(const Spare *keep)
{
    Spare *oldest = NULL;
    for (int i = 0; i < SPARES; i++) {
        Spare *spare = &spares[i];
        if (spare != keep && spare->data != NULL
            && (oldest == NULL || spare->kept_at < oldest->kept_at)) {
            oldest = spare;
        }
    }
    return oldest;
}

/* Keep a payload being handed out as a spare, in an empty slot or the oldest's, then
 * drop the oldest others while over budget. */
static void
keep_spare(PyObject *data, Py_ssize_t capacity)
{
    Spare *spare = NULL;
    for (int i = 0; i < SPARES && spare == NULL; i++) {
        if (spares[i].data == NULL) {
            spare = &spares[i];
        }
    }
    if (spare == NULL) {
        spare = oldest_spare(NULL);
        Py_DECREF(pop_spare(spare));
    }
    Py_INCREF(data);
    spare->data = data;
    spare->capacity = capacity;
    spare->kept_at = ++spare_clock;
    spare_bytes += capacity;
    Spare *oldest;
    while (spare_bytes > SPARE_BUDGET && (oldest = oldest_spare(spare)) != NULL) {
        Py_DECREF(pop_spare(oldest));
    }
}
#else
static PyObject *
reuse_spare(Py_ssize_t size, Py_ssize_t *capacity)
{
    (void)size;
    (void)capacity;
    return NULL;
}

static void
keep_spare(PyObject *data, Py_ssize_t capacity)
{
    (void)data;
    (void)capacity;
}
#endif

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
    self->capacity = size;
    if (size >= RECYCLE_FROM && size <= RECYCLE_MAX) {
        self->data = reuse_spare(size, &self->capacity);
    }
    if (self->data == NULL) {
        self->data = PyBytes_FromStringAndSize(NULL, size);
        if (self->data == NULL) {
            return -1;
        }
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
    if (self->filled >= RECYCLE_FROM && self->capacity <= RECYCLE_MAX) {
        keep_spare(self->data, self->capacity);
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

/* MessageReader(text_message, text, binary_message, binary): the receive loop's common
 * case compiled. read(src, pos, masked, max_size, events) -> pos appends
 * text_message(text, str, None) or binary_message(binary, bytes, None) (the message
 * classes of messages.py, with their WSMsgType members) to ``events`` for each whole
 * frame at src[pos:] that is
 * a complete message on its own: final, no reserved bit, a data opcode, masked exactly
 * when ``masked``, no longer than ``max_size`` (0: no limit), valid UTF-8 if text. It
 * stops at the first frame that is anything else, or has not fully arrived, and
 * returns where that frame starts: the Python loop in connection.py then handles it,
 * and raises whatever error it deserves. So this decides nothing the Python code does
 * not: it only skips the interpreter for the frames that need no decision. */
typedef struct {
    PyObject_HEAD
    PyObject *text_message;  /* the message classes: tuple subclasses, filled like tuples */
    PyObject *text;
    PyObject *binary_message;
    PyObject *binary;
} MessageReader;

static int
reader_init(MessageReader *self, PyObject *args, PyObject *kwds)
{
    PyObject *text_message, *text, *binary_message, *binary;
    static char *kwlist[] = {"text_message", "text", "binary_message", "binary", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O!OO!O", kwlist, &PyType_Type,
                                     &text_message, &text, &PyType_Type, &binary_message,
                                     &binary)) {
        return -1;
    }
    if (!PyType_IsSubtype((PyTypeObject *)text_message, &PyTuple_Type)
        || !PyType_IsSubtype((PyTypeObject *)binary_message, &PyTuple_Type)) {
        PyErr_SetString(PyExc_TypeError, "the message classes must be tuple subclasses");
        return -1;
    }
    if (self->text_message != NULL) {
        PyErr_SetString(PyExc_TypeError, "a MessageReader is initialised once");
        return -1;
    }
    Py_INCREF(text_message);
    Py_INCREF(text);
    Py_INCREF(binary_message);
    Py_INCREF(binary);
    self->text_message = text_message;
    self->text = text;
    self->binary_message = binary_message;
    self->binary = binary;
    return 0;
}

static void
reader_dealloc(MessageReader *self)
{
    Py_CLEAR(self->text_message);
    Py_CLEAR(self->text);
    Py_CLEAR(self->binary_message);
    Py_CLEAR(self->binary);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* The payload of one frame as str or bytes; NULL without an exception for invalid
 * UTF-8 (the caller stops there), NULL with one for anything else. */
static PyObject *
frame_payload(const unsigned char *src, Py_ssize_t size, const unsigned char *mask,
              int text)
{
    PyObject *data;
    unsigned char small[256], *plain;
    if (!text) {
        return mask == NULL ? PyBytes_FromStringAndSize((const char *)src, size)
                            : masked_bytes(src, size, mask, 0);
    }
    if (mask == NULL) {
        plain = (unsigned char *)src;
    }
    else {
        plain = size <= (Py_ssize_t)sizeof(small) ? small : PyMem_Malloc(size);
        if (plain == NULL) {
            return PyErr_NoMemory();
        }
        xor_mask_at(src, plain, size, mask, 0);
    }
    data = PyUnicode_DecodeUTF8((const char *)plain, size, NULL);
    if (plain != src && plain != small) {
        PyMem_Free(plain);
    }
    if (data == NULL && PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) {
        PyErr_Clear();
    }
    return data;
}

/* cls(kind, data, None), stealing ``data``. */
static PyObject *
new_message(PyObject *cls, PyObject *kind, PyObject *data)
{
    PyTypeObject *type = (PyTypeObject *)cls;
#if PY_VERSION_HEX >= 0x030E0000
    /* tuples cache their hash from 3.14 on: only tuple's constructor sets it up */
    PyObject *args = Py_BuildValue("((OOO))", kind, data, Py_None);
    PyObject *message = args == NULL ? NULL : PyTuple_Type.tp_new(type, args, NULL);
    Py_XDECREF(args);
    Py_DECREF(data);
    return message;
#else
    PyObject *message = type->tp_alloc(type, 3);
    if (message == NULL) {
        Py_DECREF(data);
        return NULL;
    }
    Py_INCREF(kind);
    Py_INCREF(Py_None);
    PyTuple_SET_ITEM(message, 0, kind);
    PyTuple_SET_ITEM(message, 1, data);
    PyTuple_SET_ITEM(message, 2, Py_None);
    return message;
#endif
}

static PyObject *
reader_read(MessageReader *self, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer view;
    Py_ssize_t pos, max_size;
    int masked;
    PyObject *events;

    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "read(src, pos, masked, max_size, events)");
        return NULL;
    }
    if (self->text_message == NULL) {
        PyErr_SetString(PyExc_TypeError, "the MessageReader was not initialised");
        return NULL;
    }
    pos = PyLong_AsSsize_t(args[1]);
    if (pos == -1 && PyErr_Occurred()) {
        return NULL;
    }
    masked = PyObject_IsTrue(args[2]);
    if (masked < 0) {
        return NULL;
    }
    max_size = PyLong_AsSsize_t(args[3]);
    if (max_size == -1 && PyErr_Occurred()) {
        return NULL;
    }
    events = args[4];
    if (!PyList_Check(events)) {
        PyErr_SetString(PyExc_TypeError, "events must be a list");
        return NULL;
    }
    if (PyObject_GetBuffer(args[0], &view, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    if (pos < 0 || pos > view.len) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "pos outside the buffer");
        return NULL;
    }
    const unsigned char *buf = (const unsigned char *)view.buf;
    Py_ssize_t end = view.len;
    while (end - pos >= 2) {
        unsigned char first = buf[pos], second = buf[pos + 1];
        Py_ssize_t head = 2, length = second & 0x7F;
        int text = first == 0x81;
        if (!(text || first == 0x82) || !(second & 0x80) != !masked) {
            break;
        }
        if (length == 126) {
            if (end - pos < 4) {
                break;
            }
            length = ((Py_ssize_t)buf[pos + 2] << 8) | buf[pos + 3];
            head = 4;
        }
        else if (length == 127) {
            uint64_t wide = 0;
            if (end - pos < 10) {
                break;
            }
            for (int i = 2; i < 10; i++) {
                wide = (wide << 8) | buf[pos + i];
            }
            if (wide > (uint64_t)(end - pos)) {  /* not here yet, or invalid */
                break;
            }
            length = (Py_ssize_t)wide;
            head = 10;
        }
        const unsigned char *mask = NULL;
        if (masked) {
            if (end - pos - head < 4) {
                break;
            }
            mask = buf + pos + head;
            head += 4;
        }
        if ((max_size && length > max_size) || length > end - pos - head) {
            break;
        }
        PyObject *data = frame_payload(buf + pos + head, length, mask, text);
        if (data == NULL) {
            if (PyErr_Occurred()) {
                PyBuffer_Release(&view);
                return NULL;
            }
            break;  /* invalid UTF-8: the Python loop raises the close code */
        }
        PyObject *message = text ? new_message(self->text_message, self->text, data)
                                 : new_message(self->binary_message, self->binary, data);
        if (message == NULL || PyList_Append(events, message) < 0) {
            Py_XDECREF(message);
            PyBuffer_Release(&view);
            return NULL;
        }
        Py_DECREF(message);
        pos += head + length;
    }
    PyBuffer_Release(&view);
    return PyLong_FromSsize_t(pos);
}

static PyMethodDef reader_methods[] = {
    {"read", (PyCFunction)(void (*)(void))reader_read, METH_FASTCALL,
     "read(src, pos, masked, max_size, events) -> int: append the messages of the\n"
     "whole plain frames at src[pos:] to events; return where the first other starts."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject MessageReaderType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "tidewire.protocol._speedups.MessageReader",
    .tp_basicsize = sizeof(MessageReader),
    .tp_dealloc = (destructor)reader_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "MessageReader(text_message, text, binary_message, binary): whole plain\n"
              "frames to messages.",
    .tp_methods = reader_methods,
    .tp_init = (initproc)reader_init,
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
    NULL,
    NULL,
    NULL,
    NULL,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    PyObject *module;
    if (PyType_Ready(&PayloadBufferType) < 0 || PyType_Ready(&MessageReaderType) < 0) {
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
    Py_INCREF(&MessageReaderType);
    if (PyModule_AddObject(module, "MessageReader", (PyObject *)&MessageReaderType) < 0) {
        Py_DECREF(&MessageReaderType);
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
