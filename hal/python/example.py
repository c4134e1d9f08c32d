"""Run a kernel on every GPU of the box and check the results.

    python3 hal/python/example.py [CODE_OBJECT]

CODE_OBJECT defaults to the kernels `make` installs beside libtbhal
(build/share/tb/tbhal_kernels.co, found relative to the library, from any
directory); its kernel `add` computes c = a + b.
On the simulated box: build/bin/tb sim run -- python3 hal/python/example.py
"""

import array
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tbhal  # noqa: E402

N = 1 << 16


def run_on(dev, code_object):
    prog = dev.load_program(code_object)
    add = prog.kernel("add")
    a, b, c = dev.alloc(N * 4), dev.alloc(N * 4), dev.alloc(N * 4, host=True)
    a.write(array.array("f", (float(i) for i in range(N))).tobytes())
    b.write(array.array("f", [float(dev.index + 1)] * N).tobytes())
    q, done, t0, t1 = dev.queue(), dev.signal(), dev.signal(), dev.signal()
    q.timestamp(t0).exec(add, add.pack(a, b, c, N), grid=(N,), block=(256,)).timestamp(t1)
    q.signal(done, 1).submit()
    done.wait(1)
    got = array.array("f", c.read())
    bad = sum(1 for i in range(N) if got[i] != float(i) + float(dev.index + 1))
    us = (t1.timestamp_ns - t0.timestamp_ns) / 1000
    for obj in (q, done, t0, t1):
        obj.destroy()
    for buf in (a, b, c):
        buf.free()
    prog.free()
    return bad, us


def main():
    code_object = sys.argv[1] if len(sys.argv) > 1 else tbhal.share_path("tbhal_kernels.co")
    try:
        devices = tbhal.Device.open_all()
    except tbhal.Error as e:
        print(f"no GPUs: {e}", file=sys.stderr)
        return 1
    failed = 0
    print(f"{'GPU':<4} {'PCI':<13} {'name':<22} {'arch':<8} {'kernel us':>10}  result")
    for dev in devices:
        try:
            bad, us = run_on(dev, code_object)
        except tbhal.Error as e:
            print(f"{dev.index:<4} {dev.pci:<13} {dev.name:<22} {dev.arch:<8} {'-':>10}  ERROR {e}")
            failed += 1
            continue
        failed += bad != 0
        result = "OK" if bad == 0 else f"FAIL ({bad} of {N} wrong)"
        print(f"{dev.index:<4} {dev.pci:<13} {dev.name:<22} {dev.arch:<8} {us:>10.1f}  {result}")
    for dev in devices:
        dev.close()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
