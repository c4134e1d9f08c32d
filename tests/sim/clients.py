"""The box from a client that drives KFD the way tinygrad's KFD interface
does: ioctl and mmap looked up in libc's own handle through ctypes,
multiprocessing workers spawned while the devices are open, host buffers
(userptr) freed and mapped again at the same address, sizes that are not
whole pages.  Run under `tb sim run`; prints TAP."""
import ctypes, mmap, multiprocessing, os, struct, subprocess, sys, time

libc = ctypes.CDLL("libc.so.6", use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
libc.ioctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p]
libc.dlsym.restype = ctypes.c_void_p
libc.dlsym.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
libc.dlvsym.restype = ctypes.c_void_p
libc.dlvsym.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p]
MAP_FAILED = ctypes.c_void_p(-1).value
MAP_FIXED, MAP_NORESERVE = 0x10, 0x4000
RTLD_DEFAULT = None

n_test = int(os.environ.get("TAP_OFFSET", "0"))
failures = 0
def report(ok, name, why=""):
  global n_test, failures
  n_test += 1
  print(f"{'ok' if ok else 'not ok'} {n_test} - {name}")
  if not ok:
    failures += 1
    print(f"# {why}")
  sys.stdout.flush()

# ---- linux/kfd_ioctl.h ----------------------------------------------------------------
def _IOC(d, nr, size): return (d << 30) | (size << 16) | (ord('K') << 8) | nr
def st(name, fields): return type(name, (ctypes.Structure,), {"_fields_": fields})
u32, u64 = ctypes.c_uint32, ctypes.c_uint64
GetVersion = st("GetVersion", [("major", u32), ("minor", u32)])
AcquireVm = st("AcquireVm", [("drm_fd", u32), ("gpu_id", u32)])
Alloc = st("Alloc", [("va_addr", u64), ("size", u64), ("handle", u64), ("mmap_offset", u64), ("gpu_id", u32), ("flags", u32)])
Free = st("Free", [("handle", u64)])
MapMem = st("MapMem", [("handle", u64), ("device_ids_array_ptr", u64), ("n_devices", u32), ("n_success", u32)])
CreateQueue = st("CreateQueue", [("ring_base_address", u64), ("write_pointer_address", u64), ("read_pointer_address", u64),
  ("doorbell_offset", u64), ("ring_size", u32), ("gpu_id", u32), ("queue_type", u32), ("queue_percentage", u32),
  ("queue_priority", u32), ("queue_id", u32), ("eop_buffer_address", u64), ("eop_buffer_size", u64),
  ("ctx_save_restore_address", u64), ("ctx_save_restore_size", u32), ("ctl_stack_size", u32)])
CreateEvent = st("CreateEvent", [("event_page_offset", u64), ("event_trigger_data", u32), ("event_type", u32),
  ("auto_reset", u32), ("node_id", u32), ("event_id", u32), ("event_slot_index", u32)])
EventData = st("EventData", [("not_present", u32), ("read_only", u32), ("no_execute", u32), ("imprecise", u32),
  ("va", u64), ("gpu_id", u32), ("error_type", u32), ("ext", u64), ("event_id", u32), ("pad", u32)])
WaitEvents = st("WaitEvents", [("events_ptr", u64), ("num_events", u32), ("wait_for_all", u32), ("timeout", u32), ("wait_result", u32)])
assert ctypes.sizeof(EventData) == 48 and ctypes.sizeof(CreateQueue) == 88
IOC_GET_VERSION = _IOC(2, 0x01, ctypes.sizeof(GetVersion))
IOC_CREATE_QUEUE = _IOC(3, 0x02, ctypes.sizeof(CreateQueue))
IOC_CREATE_EVENT = _IOC(3, 0x08, ctypes.sizeof(CreateEvent))
IOC_WAIT_EVENTS = _IOC(3, 0x0C, ctypes.sizeof(WaitEvents))
IOC_ACQUIRE_VM = _IOC(1, 0x15, ctypes.sizeof(AcquireVm))
IOC_ALLOC = _IOC(3, 0x16, ctypes.sizeof(Alloc))
IOC_FREE = _IOC(1, 0x17, ctypes.sizeof(Free))
IOC_MAP = _IOC(3, 0x18, ctypes.sizeof(MapMem))
IOC_UNMAP = _IOC(3, 0x19, ctypes.sizeof(MapMem))
VRAM, GTT, USERPTR, DOORBELL = 1, 2, 4, 8
WRITABLE, EXECUTABLE, PUBLIC, COHERENT, UNCACHED = 1 << 31, 1 << 30, 1 << 29, 1 << 26, 1 << 25
QUEUE_TYPE_SDMA, EVENT_MEMORY = 1, 8

def ioctl(fd, req, arg):
  """Through the handle's ioctl, as ctypes users call it."""
  if libc.ioctl(fd, req, ctypes.addressof(arg)) < 0:
    e = ctypes.get_errno()
    raise OSError(e, os.strerror(e))
  return arg

def libc_mmap(addr, size, prot, flags, fd, off):
  p = libc.mmap(addr, size, prot, flags, fd, off)
  if p in (None, MAP_FAILED):
    e = ctypes.get_errno()
    raise OSError(e, f"mmap: {os.strerror(e)}")
  return p

wptr = fence_value = 0

def worker():
  """A compile worker's stand-in: it starts, imports this module and exits."""

def main():
  global kfd, drm, gpu_id, ring, ptrs, rptr_va, wptr_va, fence_va, doorbell
  # ---- the first GPU --------------------------------------------------------------------------
  topo = "/sys/devices/virtual/kfd/kfd/topology/nodes"
  nodes = sorted((n for n in os.listdir(topo) if int(open(f"{topo}/{n}/gpu_id").read()) != 0), key=int)
  gpu_id = int(open(f"{topo}/{nodes[0]}/gpu_id").read())
  props = dict(l.split() for l in open(f"{topo}/{nodes[0]}/properties"))
  kfd = os.open("/dev/kfd", os.O_RDWR)
  drm = os.open(f"/dev/dri/renderD{props['drm_render_minor']}", os.O_RDWR)

  # 1. libc's own handle finds the box
  try:
    v = ioctl(kfd, IOC_GET_VERSION, GetVersion())
    report((v.major, v.minor) >= (1, 14), "GET_VERSION through ctypes.CDLL('libc.so.6').ioctl", f"{v.major}.{v.minor}")
  except OSError as e:
    report(False, "GET_VERSION through ctypes.CDLL('libc.so.6').ioctl", str(e))
  preload_mmap = libc.dlsym(RTLD_DEFAULT, b"mmap")
  in_handle = ctypes.cast(libc.mmap, ctypes.c_void_p).value
  versioned = libc.dlvsym(libc._handle, b"mmap", b"GLIBC_2.2.5")
  report(in_handle == preload_mmap and versioned == preload_mmap,
         "dlsym and dlvsym on libc's handle return the box's mmap", f"{in_handle:#x} {versioned} {preload_mmap:#x}")
  report(libc.dlsym(libc._handle, b"getpid") not in (None, preload_mmap), "other names are still libc's")

  ioctl(kfd, IOC_ACQUIRE_VM, AcquireVm(drm_fd=drm, gpu_id=gpu_id))

  def gpu_ids(): return (ctypes.c_uint32 * 1)(gpu_id)
  def map_bo(handle):
    ids = gpu_ids()
    return ioctl(kfd, IOC_MAP, MapMem(handle=handle, device_ids_array_ptr=ctypes.addressof(ids), n_devices=1))
  def unmap_bo(handle):
    ids = gpu_ids()
    return ioctl(kfd, IOC_UNMAP, MapMem(handle=handle, device_ids_array_ptr=ctypes.addressof(ids), n_devices=1))

  PROT_RW = mmap.PROT_READ | mmap.PROT_WRITE
  def alloc(size, kind, cpu_addr=None):
    """tinygrad's KFDIface.alloc: reserve the VA, allocate, map the render node over it."""
    flags = WRITABLE | EXECUTABLE | PUBLIC | kind | (COHERENT | UNCACHED if kind == GTT else 0)
    if kind == USERPTR:
      addr = cpu_addr or libc_mmap(None, size, PROT_RW, mmap.MAP_SHARED | mmap.MAP_ANONYMOUS, -1, 0)
      bo = ioctl(kfd, IOC_ALLOC, Alloc(va_addr=addr, size=size, gpu_id=gpu_id, flags=flags, mmap_offset=addr))
    else:
      addr = libc_mmap(None, size, 0, mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
      bo = ioctl(kfd, IOC_ALLOC, Alloc(va_addr=addr, size=size, gpu_id=gpu_id, flags=flags))
      libc_mmap(addr, size, PROT_RW, mmap.MAP_SHARED | MAP_FIXED, drm, bo.mmap_offset)
    map_bo(bo.handle)
    return bo

  # 2. sizes that are not whole pages are rounded up, as amdgpu does (PAGE_ALIGN)
  for kind, name in ((VRAM, "VRAM"), (GTT, "GTT"), (USERPTR, "userptr")):
    try:
      bo = alloc(0x1234, kind)
      ctypes.memset(bo.va_addr, 0x5a, 0x1234)
      report(ctypes.string_at(bo.va_addr + 0x1233, 1) == b"\x5a", f"a {name} buffer of 0x1234 bytes is allocated and usable")
    except OSError as e:
      report(False, f"a {name} buffer of 0x1234 bytes is allocated", str(e))

  # ---- an SDMA queue, as tinygrad sets one up ----------------------------------------------------
  ring = alloc(0x10000, GTT)
  ptrs = alloc(0x1000, GTT)
  rptr_va, wptr_va, fence_va = ptrs.va_addr, ptrs.va_addr + 8, ptrs.va_addr + 64
  q = ioctl(kfd, IOC_CREATE_QUEUE, CreateQueue(ring_base_address=ring.va_addr, ring_size=0x10000, gpu_id=gpu_id,
            queue_type=QUEUE_TYPE_SDMA, queue_percentage=100, queue_priority=7,
            write_pointer_address=wptr_va, read_pointer_address=rptr_va))
  doorbells_base = q.doorbell_offset & ~0x1fff
  doorbells = libc_mmap(None, 0x2000, PROT_RW, mmap.MAP_SHARED, kfd, doorbells_base)
  report(True, "the doorbell page maps through ctypes.CDLL('libc.so.6').mmap")
  doorbell = doorbells + q.doorbell_offset - doorbells_base

  def sdma_copy(dst, src, size, wait=True):
    """SDMA v6 linear copy + fence (sdma_v6_0_0_pkt_open.h), then ring the doorbell."""
    global wptr, fence_value
    fence_value += 1
    pkt = struct.pack("<7I", 1, size - 1, 0, src & 0xffffffff, src >> 32, dst & 0xffffffff, dst >> 32)
    pkt += struct.pack("<4I", 5, fence_va & 0xffffffff, fence_va >> 32, fence_value)
    off = wptr % 0x10000
    ctypes.memmove(ring.va_addr + off, pkt, len(pkt))
    wptr += len(pkt)
    ctypes.c_uint64.from_address(wptr_va).value = wptr
    ctypes.c_uint64.from_address(doorbell).value = wptr
    if not wait:
      return True
    deadline = time.time() + 20
    while ctypes.c_uint32.from_address(fence_va).value != fence_value:
      if time.time() > deadline:
        return False
      time.sleep(0.001)
    return True

  vram = alloc(0x10000, VRAM)

  # 3. workers spawned while the devices are open (tinygrad's compile pool;
  # posix_spawn and Python's subprocess run the child in the parent's memory)
  try:
    ctx = multiprocessing.get_context("spawn")
    p = ctx.Process(target=worker)
    p.start()
    p.join()
    subprocess.run(["true"], check=True, close_fds=True)
    v = ioctl(kfd, IOC_GET_VERSION, GetVersion())
    host = alloc(0x1000, USERPTR)
    ctypes.memset(host.va_addr, 0x33, 0x1000)
    ok = sdma_copy(vram.va_addr, host.va_addr, 0x1000)
    report(ok and ctypes.string_at(vram.va_addr, 16) == b"\x33" * 16,
           "after a spawned worker and a subprocess, KFD ioctls and copies still reach the box")
  except OSError as e:
    report(False, "after a spawned worker and a subprocess, KFD ioctls still reach the box", str(e))

  # 4. a host buffer freed and another mapped at the same address: the GPU sees the new pages
  size = 0x3000
  a = alloc(size, USERPTR)
  addr = a.va_addr
  ctypes.memset(addr, 0x11, size)
  unmap_bo(a.handle)
  libc.munmap(addr, size)
  ioctl(kfd, IOC_FREE, Free(handle=a.handle))
  b_addr = libc_mmap(addr, size, PROT_RW, mmap.MAP_SHARED | mmap.MAP_ANONYMOUS | MAP_FIXED, -1, 0)
  ctypes.memset(b_addr, 0x22, size)
  b = alloc(size, USERPTR, cpu_addr=b_addr)
  ok = sdma_copy(vram.va_addr, b_addr, size)
  got = ctypes.string_at(vram.va_addr, size)
  report(ok and got == b"\x22" * size, "a host buffer mapped where a freed one was: the GPU reads the new pages",
         f"fence {ok}, first byte {got[:1]!r}")
  ctypes.memset(vram.va_addr, 0x44, size)
  ok = sdma_copy(b_addr, vram.va_addr, size)
  report(ok and ctypes.string_at(b_addr, size) == b"\x44" * size, "and the GPU's writes land in them")

  # a finite wait on an event nobody signals lasts its timeout (no less)
  ev = ioctl(kfd, IOC_CREATE_EVENT, CreateEvent(event_type=EVENT_MEMORY))
  data = EventData(event_id=ev.event_id)
  st = time.monotonic()
  w = ioctl(kfd, IOC_WAIT_EVENTS, WaitEvents(events_ptr=ctypes.addressof(data), num_events=1, timeout=300))
  waited = time.monotonic() - st
  report(w.wait_result == 1 and waited >= 0.3, "WAIT_EVENTS with a 300 ms timeout times out after 300 ms",
         f"result {w.wait_result} after {waited * 1e3:.0f} ms")

  # 5. a registered host buffer unmapped while still mapped to the GPU: its
  # pages are gone (amdgpu's MMU notifier), so the GPU faults on it
  c = alloc(0x2000, USERPTR)
  libc.munmap(c.va_addr, 0x2000)
  sdma_copy(vram.va_addr, c.va_addr, 0x1000, wait=False)
  data = EventData(event_id=ev.event_id)
  w = ioctl(kfd, IOC_WAIT_EVENTS, WaitEvents(events_ptr=ctypes.addressof(data), num_events=1, timeout=20000))
  report(w.wait_result == 0 and data.va == c.va_addr and data.gpu_id == gpu_id,
         "an unmapped host buffer faults the GPU at its address", f"result {w.wait_result}, va {data.va:#x} vs {c.va_addr:#x}")

  print(f"# {failures} failed")
  sys.exit(1 if failures else 0)

if __name__ == "__main__":
  main()
