"""tbhal: the appliance's GPUs from Python, through libtbhal (ctypes only).

    import tbhal
    dev = tbhal.Device.open(0)
    prog = dev.load_program("kernels.co")
    add = prog.kernel("add")
    buf = dev.alloc(4096, host=True)
    q = dev.queue()
    sig = dev.signal()
    q.exec(add, add.pack(a=buf, b=buf, c=buf, n=1024), grid=(1024,), block=(64,))
    q.signal(sig, 1).submit()
    sig.wait(1)

Every failure raises tbhal.Error with libtbhal's message.  The library is
found through $TB_HAL_LIB, else next to this file's build tree, else the
system's libtbhal.so.  share_path(NAME) is a file the build installs beside
it (build/share/tb/NAME: tbhal_kernels.co, whose kernel `add` computes
c = a + b), found relative to the library that was loaded.
"""

import ctypes
import errno
import os
import struct

__all__ = ["share_path", "Error", "Device", "Buffer", "Program", "Kernel", "Queue", "Signal", "Graph", "device_count"]


def _find_library():
    env = os.environ.get("TB_HAL_LIB")
    if env:
        return env
    here = os.path.dirname(os.path.abspath(__file__))
    built = os.path.join(here, "..", "..", "build", "lib", "libtbhal.so")
    return built if os.path.exists(built) else "libtbhal.so"


_lib = ctypes.CDLL(_find_library())


class _DlInfo(ctypes.Structure):
    _fields_ = [("dli_fname", ctypes.c_char_p), ("dli_fbase", ctypes.c_void_p),
                ("dli_sname", ctypes.c_char_p), ("dli_saddr", ctypes.c_void_p)]


def share_path(name):
    """The installed file NAME, relative to the loaded libtbhal (LIB/../share/tb)."""
    info = _DlInfo()
    libc = ctypes.CDLL(None)
    libc.dladdr.argtypes = [ctypes.c_void_p, ctypes.POINTER(_DlInfo)]
    if not libc.dladdr(ctypes.cast(_lib.tbh_last_error, ctypes.c_void_p), ctypes.byref(info)) or not info.dli_fname:
        raise Error(-errno.ENOENT, "cannot tell where libtbhal was loaded from")
    lib_dir = os.path.dirname(os.path.realpath(os.fsdecode(info.dli_fname)))
    return os.path.join(lib_dir, "..", "share", "tb", name)
_P = ctypes.c_void_p
_U32 = ctypes.c_uint32
_U64 = ctypes.c_uint64


class _Props(ctypes.Structure):
    _fields_ = [("index", ctypes.c_int), ("pci", ctypes.c_char * 16), ("name", ctypes.c_char * 96),
                ("arch", ctypes.c_char * 16), ("compute_units", _U32), ("vram_bytes", _U64),
                ("numa_node", ctypes.c_int)]


class _Arg(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("offset", _U32), ("size", _U32), ("kind", ctypes.c_int)]


def _sig(name, restype, *argtypes):
    f = getattr(_lib, name)
    f.restype = restype
    f.argtypes = list(argtypes)
    return f


_U32x3 = _U32 * 3
_last_error = _sig("tbh_last_error", ctypes.c_char_p)
_device_count = _sig("tbh_device_count", ctypes.c_int)
_device_open = _sig("tbh_device_open", ctypes.c_int, ctypes.c_int, ctypes.POINTER(_P))
_device_open_pci = _sig("tbh_device_open_pci", ctypes.c_int, ctypes.c_char_p, ctypes.POINTER(_P))
_device_close = _sig("tbh_device_close", None, _P)
_device_set_hang_timeout = _sig("tbh_device_set_hang_timeout", ctypes.c_int, _P, _U32)
_device_props = _sig("tbh_device_get_props", ctypes.c_int, _P, ctypes.POINTER(_Props))
_buffer_alloc = _sig("tbh_buffer_alloc", ctypes.c_int, _P, _U64, ctypes.c_int, ctypes.POINTER(_P))
_buffer_free = _sig("tbh_buffer_free", None, _P)
_buffer_cpu = _sig("tbh_buffer_cpu", _P, _P)
_buffer_address = _sig("tbh_buffer_address", _U64, _P)
_buffer_size = _sig("tbh_buffer_size", _U64, _P)
_buffer_map_to = _sig("tbh_buffer_map_to", ctypes.c_int, _P, _P)
_program_load = _sig("tbh_program_load", ctypes.c_int, _P, ctypes.c_char_p, ctypes.c_size_t, ctypes.POINTER(_P))
_program_load_file = _sig("tbh_program_load_file", ctypes.c_int, _P, ctypes.c_char_p, ctypes.POINTER(_P))
_program_free = _sig("tbh_program_free", None, _P)
_program_kernel = _sig("tbh_program_kernel", ctypes.c_int, _P, ctypes.c_char_p, ctypes.POINTER(_P))
_kernel_arg_count = _sig("tbh_kernel_arg_count", _U32, _P)
_kernel_arg_info = _sig("tbh_kernel_arg_info", ctypes.c_int, _P, _U32, ctypes.POINTER(_Arg))
_kernel_args_size = _sig("tbh_kernel_args_size", _U32, _P)
_signal_create = _sig("tbh_signal_create", ctypes.c_int, _P, _U64, ctypes.POINTER(_P))
_signal_destroy = _sig("tbh_signal_destroy", None, _P)
_signal_value = _sig("tbh_signal_value", _U64, _P)
_signal_set = _sig("tbh_signal_set", None, _P, _U64)
_signal_wait = _sig("tbh_signal_wait", ctypes.c_int, _P, _U64, _U32)
_signal_timestamp = _sig("tbh_signal_timestamp_ns", _U64, _P)
_queue_create = _sig("tbh_queue_create", ctypes.c_int, _P, ctypes.c_int, ctypes.POINTER(_P))
_queue_destroy = _sig("tbh_queue_destroy", None, _P)
_queue_exec = _sig("tbh_queue_exec", ctypes.c_int, _P, _P, ctypes.c_char_p, ctypes.c_size_t, _U32x3, _U32x3)
_queue_copy = _sig("tbh_queue_copy", ctypes.c_int, _P, _P, _U64, _P, _U64, _U64)
_queue_signal = _sig("tbh_queue_signal", ctypes.c_int, _P, _P, _U64)
_queue_wait = _sig("tbh_queue_wait", ctypes.c_int, _P, _P, _U64)
_queue_timestamp = _sig("tbh_queue_timestamp", ctypes.c_int, _P, _P)
_queue_barrier = _sig("tbh_queue_barrier", ctypes.c_int, _P)
_queue_submit = _sig("tbh_queue_submit", ctypes.c_int, _P)
_graph_begin = _sig("tbh_graph_begin", ctypes.c_int, _P)
_graph_exec = _sig("tbh_graph_exec", ctypes.c_int, _P, _P, ctypes.c_char_p, ctypes.c_size_t, _U32x3, _U32x3,
                   ctypes.POINTER(_U32))
_graph_signal = _sig("tbh_graph_signal", ctypes.c_int, _P, _P, _U64, ctypes.POINTER(_U32))
_graph_end = _sig("tbh_graph_end", ctypes.c_int, _P, ctypes.POINTER(_P))
_graph_set_args = _sig("tbh_graph_set_args", ctypes.c_int, _P, _U32, _U32, ctypes.c_char_p, ctypes.c_size_t)
_graph_set_value = _sig("tbh_graph_set_value", ctypes.c_int, _P, _U32, _U64)
_queue_replay = _sig("tbh_queue_replay", ctypes.c_int, _P, _P)
_graph_free = _sig("tbh_graph_free", None, _P)


class Error(Exception):
    """A libtbhal failure: errno and message (libtbhal's, or the binding's
    own for a call it refused before reaching the library)."""

    def __init__(self, rc, message=None):
        self.errno = -rc
        super().__init__(message if message is not None else _last_error().decode(errors="replace"))


def _ok(rc):
    if rc < 0:
        raise Error(rc)
    return rc


def _refuse(message, err=errno.EINVAL):
    raise Error(-err, message)


def _uint(v, bits, what):
    """An integer that fits the C type exactly: no silent wrap of -1."""
    if isinstance(v, bool) or not isinstance(v, int):
        _refuse(f"{what} must be an integer, not {type(v).__name__}")
    if v < 0 or v >> bits:
        _refuse(f"{what} {v} is outside 0..{(1 << bits) - 1}", errno.ERANGE if v >= 0 else errno.EINVAL)
    return v


def _dims(d, what):
    d = tuple(d) + (1,) * (3 - len(d))
    if len(d) != 3:
        _refuse(f"{what} takes 1 to 3 dimensions")
    for v in d:
        if _uint(v, 32, what) == 0:
            _refuse(f"{what} {d}: sizes must be at least 1")
    return _U32x3(*d)


def _span(size, offset, total, what):
    """Check [offset, offset + size) lies in a buffer of total bytes."""
    _uint(offset, 64, f"{what} offset")
    _uint(size, 64, f"{what} size")
    if offset > total or size > total - offset:
        _refuse(f"{what} of {size} bytes at offset {offset} runs past the {total}-byte buffer", errno.ERANGE)


def device_count():
    return _ok(_device_count())


class _Handle:
    """A libtbhal object: its handle while it lives, and the objects it
    depends on (a buffer its device, a kernel its program...).  Using it
    after it, or anything it depends on, was freed or closed raises Error
    instead of reaching freed memory."""

    _what = "object"

    def __init__(self, *depends):
        self._h = _P()
        self._depends = depends

    def _handle(self):
        if not self._h:
            _refuse(f"the {self._what} was freed", errno.EBADF)
        for d in self._depends:
            d._handle()
        return self._h


class Device(_Handle):
    _what = "device"

    def __init__(self, handle):
        super().__init__()
        self._h = handle
        self._children = []
        p = _Props()
        _ok(_device_props(self._h, ctypes.byref(p)))
        self.index, self.pci, self.name = p.index, p.pci.decode(), p.name.decode()
        self.arch, self.compute_units, self.vram_bytes = p.arch.decode(), p.compute_units, p.vram_bytes

    @classmethod
    def open(cls, index):
        h = _P()
        _ok(_device_open(index, ctypes.byref(h)))
        return cls(h)

    @classmethod
    def open_pci(cls, pci):
        h = _P()
        _ok(_device_open_pci(pci.encode(), ctypes.byref(h)))
        return cls(h)

    @classmethod
    def open_all(cls):
        return [cls.open(i) for i in range(device_count())]

    def _adopt(self, child):
        if len(self._children) >= 64 and len(self._children) & (len(self._children) - 1) == 0:
            self._children = [c for c in self._children if c._h]  # forget the freed
        self._children.append(child)
        return child

    def close(self):
        """Free everything made on the device, then close it: the objects
        raise Error from then on."""
        if self._h:
            # graphs and queues before what they use, programs and buffers last
            for kind in (Graph, Queue, Signal, Program, Buffer):
                for c in self._children:
                    if isinstance(c, kind):
                        c._release()
            self._children = []
            _device_close(self._h)
            self._h = None

    def set_hang_timeout(self, ms):
        _ok(_device_set_hang_timeout(self._handle(), _uint(ms, 32, "hang timeout")))

    def alloc(self, size, host=False):
        return self._adopt(Buffer(self, size, host))

    def load_program(self, path_or_bytes):
        return self._adopt(Program(self, path_or_bytes))

    def queue(self, copy=False):
        return self._adopt(Queue(self, copy))

    def signal(self, initial=0):
        return self._adopt(Signal(self, initial))

    def __repr__(self):
        return f"<tbhal.Device {self.index} {self.name} {self.arch} at {self.pci}>"


class Buffer(_Handle):
    _what = "buffer"

    def __init__(self, dev, size, host):
        super().__init__(dev)
        _ok(_buffer_alloc(dev._handle(), _uint(size, 64, "buffer size"), 1 if host else 0, ctypes.byref(self._h)))
        self.device = dev
        self.address = _buffer_address(self._h)
        self.size = _buffer_size(self._h)

    def view(self, ctype=ctypes.c_uint8):
        """The buffer's memory as a ctypes array (CPU view), valid until
        the buffer is freed."""
        n = self.size // ctypes.sizeof(ctype)
        return (ctype * n).from_address(_buffer_cpu(self._handle()))

    def write(self, data, offset=0):
        data = memoryview(data).cast("B")
        _span(len(data), offset, self.size, "write")
        ctypes.memmove(_buffer_cpu(self._handle()) + offset, bytes(data), len(data))

    def read(self, size=None, offset=0):
        _uint(offset, 64, "read offset")
        size = self.size - min(offset, self.size) if size is None else size
        _span(size, offset, self.size, "read")
        return ctypes.string_at(_buffer_cpu(self._handle()) + offset, size)

    def map_to(self, peer):
        _ok(_buffer_map_to(self._handle(), peer._handle()))

    def _release(self):
        if self._h:
            _buffer_free(self._h)
            self._h = None

    def free(self):
        self._release()


class Kernel(_Handle):
    """A kernel of a Program: it lives as long as the program."""

    _what = "kernel"

    def __init__(self, prog, handle, name):
        super().__init__(prog)
        self._h = handle
        self.program, self.name = prog, name
        self.args = []
        for i in range(_kernel_arg_count(handle)):
            a = _Arg()
            _ok(_kernel_arg_info(handle, i, ctypes.byref(a)))
            self.args.append((a.name.decode(), a.offset, a.size, a.kind))
        self.args_size = _kernel_args_size(handle)

    def pack(self, *values, **named):
        """The argument block from values in order, or by name; Buffers
        give their address; integers and floats take the argument's size."""
        block = bytearray(self.args_size)
        if len(values) > len(self.args):
            raise ValueError(f"kernel {self.name} takes {len(self.args)} arguments")
        for i, (name, offset, size, kind) in enumerate(self.args):
            # code objects carry argument names only when built with them
            if i < len(values):
                v = values[i]
            elif name and name in named:
                v = named[name]
            else:
                raise ValueError(f"no value for argument {i} ({name or 'unnamed'}) of kernel {self.name}")
            if isinstance(v, Buffer):
                v = v.address
            if isinstance(v, float):
                raw = struct.pack("<f" if size == 4 else "<d", v)
            else:
                raw = int(v).to_bytes(size, "little", signed=int(v) < 0)
            block[offset:offset + size] = raw
        return bytes(block)


class Program(_Handle):
    _what = "program"

    def __init__(self, dev, src):
        super().__init__(dev)
        if isinstance(src, (bytes, bytearray)):
            _ok(_program_load(dev._handle(), bytes(src), len(src), ctypes.byref(self._h)))
        else:
            _ok(_program_load_file(dev._handle(), os.fsencode(src), ctypes.byref(self._h)))
        self.device = dev

    def kernel(self, name):
        h = _P()
        _ok(_program_kernel(self._handle(), name.encode(), ctypes.byref(h)))
        return Kernel(self, h, name)

    def _release(self):
        if self._h:
            _program_free(self._h)
            self._h = None

    def free(self):
        self._release()


class Signal(_Handle):
    _what = "signal"

    def __init__(self, dev, initial):
        super().__init__(dev)
        _ok(_signal_create(dev._handle(), _uint(initial, 64, "signal value"), ctypes.byref(self._h)))
        self.device = dev

    @property
    def value(self):
        return _signal_value(self._handle())

    @value.setter
    def value(self, v):
        _signal_set(self._handle(), _uint(v, 64, "signal value"))

    def wait(self, value, timeout_ms=30000):
        _ok(_signal_wait(self._handle(), _uint(value, 64, "signal value"), _uint(timeout_ms, 32, "timeout")))

    @property
    def timestamp_ns(self):
        return _signal_timestamp(self._handle())

    def _release(self):
        if self._h:
            _signal_destroy(self._h)
            self._h = None

    def destroy(self):
        self._release()


def _args(args):
    if not isinstance(args, (bytes, bytearray)):
        _refuse("kernel arguments must be bytes (Kernel.pack)")
    return bytes(args)


class Queue(_Handle):
    _what = "queue"

    def __init__(self, dev, copy):
        super().__init__(dev)
        _ok(_queue_create(dev._handle(), 1 if copy else 0, ctypes.byref(self._h)))
        self.device = dev

    def exec(self, kernel, args, grid, block):
        args = _args(args)
        _ok(_queue_exec(self._handle(), kernel._handle(), args, len(args), _dims(grid, "grid"), _dims(block, "block")))
        return self

    def copy(self, dst, src, size, dst_offset=0, src_offset=0):
        _ok(_queue_copy(self._handle(), dst._handle(), _uint(dst_offset, 64, "offset"), src._handle(),
                        _uint(src_offset, 64, "offset"), _uint(size, 64, "size")))
        return self

    def signal(self, sig, value):
        _ok(_queue_signal(self._handle(), sig._handle(), _uint(value, 64, "signal value")))
        return self

    def wait(self, sig, value):
        _ok(_queue_wait(self._handle(), sig._handle(), _uint(value, 64, "signal value")))
        return self

    def timestamp(self, sig):
        _ok(_queue_timestamp(self._handle(), sig._handle()))
        return self

    def barrier(self):
        _ok(_queue_barrier(self._handle()))
        return self

    def submit(self):
        _ok(_queue_submit(self._handle()))
        return self

    def record(self):
        """Start recording a Graph: use graph_exec/graph_signal, then end()."""
        _ok(_graph_begin(self._handle()))
        return _Recorder(self)

    def replay(self, graph):
        _ok(_queue_replay(self._handle(), graph._handle()))
        return self

    def _release(self):
        if self._h:
            _queue_destroy(self._h)
            self._h = None

    def destroy(self):
        self._release()


class _Recorder:
    def __init__(self, q):
        self.queue = q

    def exec(self, kernel, args, grid, block):
        h = _U32()
        args = _args(args)
        _ok(_graph_exec(self.queue._handle(), kernel._handle(), args, len(args), _dims(grid, "grid"),
                        _dims(block, "block"), ctypes.byref(h)))
        return h.value

    def signal(self, sig, value):
        h = _U32()
        _ok(_graph_signal(self.queue._handle(), sig._handle(), _uint(value, 64, "signal value"), ctypes.byref(h)))
        return h.value

    def end(self):
        h = _P()
        _ok(_graph_end(self.queue._handle(), ctypes.byref(h)))
        return self.queue.device._adopt(Graph(self.queue, h))


class Graph(_Handle):
    """A recorded command buffer: it uses its recording queue's scratch, so
    it is usable while that queue (and its device) lives."""

    _what = "graph"

    def __init__(self, queue, handle):
        super().__init__(queue)
        self._h = handle

    def set_args(self, handle, offset, data):
        data = bytes(data)
        _ok(_graph_set_args(self._handle(), _uint(handle, 32, "handle"), _uint(offset, 32, "offset"), data, len(data)))

    def set_value(self, handle, value):
        _ok(_graph_set_value(self._handle(), _uint(handle, 32, "handle"), _uint(value, 64, "value")))

    def _release(self):
        if self._h:
            _graph_free(self._h)
            self._h = None

    def free(self):
        self._release()
