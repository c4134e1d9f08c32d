"""The Python binding's checks, on the simulated box (run by hal.sh, also
against a sanitizer build of libtbhal): objects used after what they depend
on was freed or closed, offsets and lengths out of range, and sizes that
would wrap in C.  Each must raise tbhal.Error and reach no freed or foreign
memory.  Usage: python3 test_binding.py HAL_PYTHON_DIR CODE_OBJECT.  TAP."""
import array
import errno
import sys

sys.path.insert(0, sys.argv[1])
import tbhal  # noqa: E402

CO = sys.argv[2]
N = 256
count = failures = 0


def check(ok, name):
    global count, failures
    count += 1
    failures += not ok
    print(f"{'' if ok else 'not '}ok {count} - {name}", flush=True)


def raises(fn, err=None):
    """The tbhal.Error fn raises (with errno err, when given), else None."""
    try:
        fn()
    except tbhal.Error as e:
        return e if err is None or e.errno == err else None
    return None


def main():
    dev = tbhal.Device.open(0)
    prog = dev.load_program(CO)
    add = prog.kernel("add")
    a, c = dev.alloc(N * 4, host=True), dev.alloc(N * 4, host=True)
    a.write(array.array("f", (float(i) for i in range(N))).tobytes())
    q, done = dev.queue(), dev.signal()
    q.exec(add, add.pack(a, a, c, N), grid=(N,), block=(64,)).signal(done, 1).submit()
    done.wait(1)
    got = array.array("f", c.read())
    check(all(got[i] == 2.0 * i for i in range(N)), "a kernel runs from Python")

    check(raises(lambda: a.write(b"x" * 8, offset=-8), errno.EINVAL), "write at a negative offset is refused")
    check(raises(lambda: a.write(b"x" * 8, offset=a.size - 4), errno.ERANGE), "write past the end is refused")
    check(raises(lambda: a.read(16, offset=-1 << 30), errno.EINVAL), "read at a negative offset is refused")
    check(raises(lambda: a.read(-1), errno.EINVAL), "read of -1 bytes is refused, not b''")
    check(raises(lambda: a.read(8, offset=1 << 64), errno.ERANGE), "an offset over 64 bits is refused")
    check(a.read(4, offset=a.size - 4) == a.read()[-4:], "a read that ends at the end is taken")
    args = add.pack(a, a, c, N)
    check(raises(lambda: q.exec(add, args, grid=(-1,), block=(64,)), errno.EINVAL),
          "a grid of -1 is refused (not 4294967295 work-items)")
    check(raises(lambda: q.exec(add, args, grid=(1 << 32,), block=(64,)), errno.ERANGE),
          "a grid of 2^32 is refused")
    check(raises(lambda: done.wait(-1)) is not None, "a negative signal value is refused")
    check(raises(lambda: setattr(done, "value", 1 << 64)) is not None, "a signal value over 64 bits is refused")

    p2 = dev.load_program(CO)
    k2 = p2.kernel("add")
    p2.free()
    check(raises(lambda: q.exec(k2, args, grid=(N,), block=(64,)), errno.EBADF),
          "a kernel whose program was freed is refused")
    b = dev.alloc(4096)
    b.free()
    check(raises(lambda: b.read(4), errno.EBADF), "a freed buffer cannot be read")
    b.free()
    check(True, "freeing a buffer twice is harmless")

    dev.close()
    check(raises(lambda: a.read(4), errno.EBADF), "after dev.close() a buffer cannot be read")
    a.free()
    check(True, "after dev.close() b.free() is harmless")
    check(raises(lambda: q.exec(add, args, grid=(N,), block=(64,)), errno.EBADF),
          "after dev.close() q.exec() raises tbhal.Error")
    check(raises(lambda: done.value, errno.EBADF), "after dev.close() a signal is refused")
    check(raises(lambda: dev.alloc(64), errno.EBADF), "a closed device allocates nothing")
    dev.close()
    print(f"1..{count}")
    return 1 if failures else 0


sys.exit(main())
