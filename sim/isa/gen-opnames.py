#!/usr/bin/env python3
"""Regenerate opnames.inc: the gfx1100 opcode -> mnemonic tables the decoder uses.

The mnemonics are facts about the instruction set; this script asks LLVM's own
disassembler (llvm-mc-19, llvm-objdump-19) for them by assembling one candidate
encoding per opcode (several operand patterns per encoding, since the
disassembler rejects encodings whose unused fields are not zero) and reading
back the mnemonic.  Run it by hand after an LLVM upgrade:
    python3 sim/isa/gen-opnames.py > sim/isa/opnames.inc
"""
import os, re, subprocess, tempfile

NOP = 0xBF800000

def disassemble(cands):
    """Mnemonic (or None) of each candidate, each placed in its own 16-byte slot."""
    with tempfile.TemporaryDirectory() as d:
        s, o = os.path.join(d, 'c.s'), os.path.join(d, 'c.o')
        with open(s, 'w') as f:
            f.write('.text\n')
            for ws in cands:
                for w in ws + [NOP] * (4 - len(ws)):
                    f.write('.long 0x%08x\n' % w)
        subprocess.run(['llvm-mc-19', '-arch=amdgcn', '-mcpu=gfx1100', '-filetype=obj', s, '-o', o], check=True)
        out = subprocess.run(['llvm-objdump-19', '-d', '--no-show-raw-insn', o],
                             capture_output=True, text=True, check=True).stdout
    found = {}
    for line in out.splitlines():
        m = re.match(r'\s*(.*?)\s*//\s*([0-9A-Fa-f]+):', line)
        if m and int(m.group(2), 16) % 16 == 0:
            found[int(m.group(2), 16) // 16] = m.group(1)
    res = []
    for i in range(len(cands)):
        t = found.get(i)
        res.append(None if not t or t.startswith('.long') or t.startswith('<unknown>') else t)
    return res

def v3(op, s0, s1, s2): return [(0x35 << 26) | (op << 16) | 2, s0 | (s1 << 9) | (s2 << 18)]
def ds(op, d0, d1, vdst): return [(0x36 << 26) | (op << 18), 1 | (d0 << 8) | (d1 << 16) | (vdst << 24)]
def fl(op, seg, vaddr, saddr, data, vdst, hi=0):
    return [(0x37 << 26) | (op << 18) | (seg << 16) | hi, vaddr | (data << 8) | (saddr << 16) | (vdst << 24)]

ENCODINGS = [
    ('SOP2', 0x60, [lambda op: [(2 << 30) | (op << 23) | (1 << 16) | (2 << 8) | 3]]),
    ('SOPK', 0x1d, [lambda op: [(0xb << 28) | (op << 23) | (1 << 16) | 4]]),
    ('SOP1', 256, [lambda op: [(0x17d << 23) | (2 << 16) | (op << 8) | 4],
                   lambda op: [(0x17d << 23) | (op << 8) | 0x80],
                   lambda op: [(0x17d << 23) | (0x7d << 16) | (op << 8) | 0x7d]]),
    ('SOPC', 128, [lambda op: [(0x17e << 23) | (op << 16) | (2 << 8) | 4]]),
    ('SOPP', 128, [lambda op: [(0x17f << 23) | (op << 16)], lambda op: [(0x17f << 23) | (op << 16) | 3]]),
    ('SMEM', 256, [lambda op: [(0x3d << 26) | (op << 18) | (4 << 6) | 2, 0xf8000010],
                   lambda op: [(0x3d << 26) | (op << 18) | (4 << 6), 0xf8000010],
                   lambda op: [(0x3d << 26) | (op << 18), 0xf8000000]]),
    ('VOP1', 256, [lambda op: [(0x3f << 25) | (2 << 17) | (op << 9) | 0x104],
                   lambda op: [(0x3f << 25) | (2 << 17) | (op << 9) | 0x4],
                   lambda op: [(0x3f << 25) | (op << 9)]]),
    ('VOP2', 62, [lambda op: [(op << 25) | (2 << 17) | (3 << 9) | 0x104],
                  lambda op: [(op << 25) | (2 << 17) | (3 << 9) | 0x104, 0x3f800000]]),
    ('VOPC', 256, [lambda op: [(0x3e << 25) | (op << 17) | (3 << 9) | 0x104]]),
    ('VOP3', 1024, [lambda op: v3(op, 0x104, 0x105, 0x106), lambda op: v3(op, 0x104, 0x105, 0),
                    lambda op: v3(op, 0x104, 0, 0), lambda op: v3(op, 0x104, 0x105, 6),
                    lambda op: v3(op, 0, 0, 0), lambda op: v3(op, 0x104, 0x105, 0x6a),
                    lambda op: v3(op, 0x104, 0x80, 0)]),
    ('VOP3P', 128, [lambda op: [(0xcc << 24) | (op << 16) | 2, 0x104 | (0x105 << 9) | (0x106 << 18) | (3 << 27)],
                    lambda op: [(0xcc << 24) | (op << 16) | 0x10 | (0x40 << 8), 0x108 | (0x100 << 9) | (0x110 << 18) | (3 << 27)],
                    lambda op: [(0xcc << 24) | (op << 16) | 0x10 | (0x40 << 8), 0x108 | (0x100 << 9) | (0x110 << 18)],
                    lambda op: [(0xcc << 24) | (op << 16) | 2, 0x104 | (0x105 << 9) | (3 << 27)]]),
    ('DS', 256, [lambda op: ds(op, 4, 3, 2), lambda op: ds(op, 4, 0, 0), lambda op: ds(op, 0, 0, 2),
                 lambda op: ds(op, 4, 0, 2), lambda op: ds(op, 4, 3, 0), lambda op: ds(op, 0, 0, 0),
                 lambda op: [(0x36 << 26) | (op << 18), 2 << 24]]),
    ('MUBUF', 256, [lambda op: [(0x38 << 26) | (op << 18), (4 << 24) | (1 << 16) | (3 << 8) | 4],
                    lambda op: [(0x38 << 26) | (op << 18) | (1 << 13), (0x80 << 24) | (1 << 16) | (3 << 8) | 4]]),
]
for seg, name in ((0, 'FLAT'), (2, 'GLOBAL'), (1, 'SCRATCH')):
    ENCODINGS.append((name, 128, [
        lambda op, seg=seg: fl(op, seg, 4, 0x7c, 3, 2), lambda op, seg=seg: fl(op, seg, 4, 0x7c, 0, 2),
        lambda op, seg=seg: fl(op, seg, 4, 0x7c, 3, 0), lambda op, seg=seg: fl(op, seg, 4, 0x7c, 3, 2, 0x4000),
        lambda op, seg=seg: fl(op, seg, 4, 0, 3, 0), lambda op, seg=seg: fl(op, seg, 4, 0x7c, 0, 0)]))

def table(size, templates):
    found = {}
    for t in templates:
        todo = [op for op in range(size) if op not in found]
        if not todo:
            break
        for op, text in zip(todo, disassemble([t(op) for op in todo])):
            if text:
                found[op] = text.split()[0]
    return found

def vopd_names():
    keys, cands = [], []
    for x in range(16):
        for y in range(32):
            for (s0x, s0y, v1) in ((0x104, 0x106, 1), (0x80, 0x80, 1), (0x104, 0x106, 0)):
                keys.append((x, y))
                cands.append([(0x32 << 26) | (x << 22) | (y << 17) | (3 * v1 << 9) | s0x,
                              (4 << 24) | (3 << 17) | (5 * v1 << 9) | s0y, 0x3f800000])
    xs, ys = {}, {}
    for (x, y), text in zip(keys, disassemble(cands)):
        if text and '::' in text:
            a, b = text.split('::')
            xs[x], ys[y] = a.split()[0], b.split()[0]
    return xs, ys

print('/* Generated by sim/isa/gen-opnames.py from LLVM 19\'s gfx1100 disassembler: do not edit. */')
for name, size, templates in ENCODINGS:
    t = table(size, templates)
    print('static const char *const names_%s[%d] = {' % (name.lower(), size))
    for op in sorted(t):
        print('\t[0x%03x] = "%s",' % (op, t[op]))
    print('};')
xs, ys = vopd_names()
for tag, t, size in (('x', xs, 16), ('y', ys, 32)):
    print('static const char *const names_vopd_%s[%d] = {' % (tag, size))
    for op in sorted(t):
        print('\t[0x%02x] = "%s",' % (op, t[op]))
    print('};')
