#!/usr/bin/env python3
"""The tokenizer test's reference: an implementation of libtbinfer's
tokenizers written independently of infer/tokenizer.c, in the plainest way
(the quadratic merge loops of the papers, Python's `regex` for the
pre-tokenizer patterns, Python's UTF-8 codec for decoding).

  ref_tok.py DIR   writes into DIR, for each vocabulary (spm, gpt2, llama3):
                   NAME.vocab (built here, deterministically) and NAME.vec
                   (encode and decode vectors the C test must reproduce)

File formats (one record a line, texts in hex, "-" for an empty one):
  vocab:  kind spm|bpe / pretok gpt2|llama3 / bos|eos|eot|unk|pad ID /
          add_bos 0|1 / T TYPE SCORE HEX (token ID = its line's order) /
          M HEX (merges, highest priority first)
  vec:    E ADD_BOS PARSE_SPECIAL HEX : IDS   tokenize
          D HEX : IDS                          decode (streamed) of IDS is HEX
          R HEX                                valid UTF-8: decode(encode) is HEX
"""
import os
import random
import sys

import regex

NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6
SP = "\u2581"

GPT2_PAT = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
LLAMA3_PAT = (r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"""
              r""" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+""")

TRAIN = """The quick brown fox jumps over the lazy dog. It's the dog's day; they're
sure we've seen it, I'm told, and he'll say she'd agree. Tokenizers split text
into pieces: the pieces merge into tokens, and the tokens map to numbers such as
1234567, 42 and 2024. Over and over the same words come back: the the the, and
and and, token token tokens, merge merges merged, over over over.
	Tabs, newlines and  double  spaces are text too; so are commas, colons:
semicolons; (parentheses), [brackets], {braces} and "quotes".
Sup? Sup, Sup! Super Supper; IT'S HERE, SHE'D SAY. SupSup.Sup,Sup:Sup;Sup-Sup
\u017fx.\u017fx,\u017fx:\u017fx;\u017fx-\u017fx \u017fx
"""


def hexs(b):
    return b.hex() if b else "-"


def pieces_of_bytes(data):
    """Valid UTF-8 runs (str) and ill-formed bytes (int), in order: each
    byte that the decoder cannot take stands alone."""
    out, cur = [], []
    for ch in data.decode("utf-8", "surrogateescape"):
        if 0xDC80 <= ord(ch) <= 0xDCFF:
            if cur:
                out.append("".join(cur))
                cur = []
            out.append(ord(ch) - 0xDC00)
        else:
            cur.append(ch)
    if cur:
        out.append("".join(cur))
    return out


def bytes_to_unicode():
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    m, n = {}, 0
    for b in range(256):
        if b in keep:
            m[b] = chr(b)
        else:
            m[b] = chr(0x100 + n)
            n += 1
    return m


B2U = bytes_to_unicode()
U2B = {v: k for k, v in B2U.items()}


class Vocab:
    def __init__(self, kind, pretok="gpt2"):
        self.kind, self.pretok = kind, pretok
        self.toks, self.types, self.scores, self.merges = [], [], [], []
        self.ids = {}
        self.bos = self.eos = self.eot = self.unk = self.pad = -1
        self.add_bos = True

    def add(self, text, ty=NORMAL, score=0.0):
        b = text.encode("utf-8")
        if b in self.ids:
            return self.ids[b]
        self.ids[b] = len(self.toks)
        self.toks.append(b)
        self.types.append(ty)
        self.scores.append(score)
        return self.ids[b]

    def write(self, path):
        with open(path, "w") as f:
            f.write(f"kind {self.kind}\npretok {self.pretok}\n")
            for k in ("bos", "eos", "eot", "unk", "pad"):
                f.write(f"{k} {getattr(self, k)}\n")
            f.write(f"add_bos {int(self.add_bos)}\n")
            for t, ty, s in zip(self.toks, self.types, self.scores):
                f.write(f"T {ty} {s!r} {hexs(t)}\n")
            for m in self.merges:
                f.write(f"M {hexs(m.encode('utf-8'))}\n")


# ---- vocabularies -----------------------------------------------------------------

def build_spm():
    v = Vocab("spm")
    v.unk = v.add("<unk>", UNKNOWN)
    v.bos = v.add("<s>", CONTROL)
    v.eos = v.add("</s>", CONTROL)
    for b in range(256):
        v.add("<0x%02X>" % b, BYTE)
    esc = SP + TRAIN.replace(" ", SP)
    counts = {}
    for n in range(2, 7):
        for i in range(len(esc) - n + 1):
            s = esc[i:i + n]
            counts[s] = counts.get(s, 0) + 1
    # scores: the count less a quarter per character, so that ties are
    # common (the leftmost pair must win them) but not universal
    best = sorted((s for s in counts if counts[s] >= 2), key=lambda s: (-counts[s], s))[:500]
    for ch in sorted(set(esc)):
        v.add(ch, NORMAL, -1000.0)
    for s in best:
        v.add(s, NORMAL, float(counts[s]) - 0.25 * len(s))
    v.add("<|im_start|>", CONTROL)
    v.add("<|im_end|>", CONTROL)
    v.add("<tool>", USER_DEFINED)
    v.add("<unused0>", UNUSED)
    v.add("\u00a7", CONTROL)  # a control token of one character: never a piece
    return v


def pretokenize(v, data):
    pat = LLAMA3_PAT if v.pretok == "llama3" else GPT2_PAT
    out = []
    for p in pieces_of_bytes(data):
        if isinstance(p, int):
            out.append(bytes([p]))
        else:
            out.extend(m.encode("utf-8") for m in regex.findall(pat, p))
    return out


def build_bpe(pretok):
    v = Vocab("bpe", pretok)
    for b in range(256):
        v.add(B2U[b])
    words = {}
    for w in pretokenize(v, TRAIN.encode("utf-8")):
        key = tuple(B2U[b] for b in w)
        words[key] = words.get(key, 0) + 1
    for _ in range(300):
        pairs = {}
        for w, c in words.items():
            for a, b in zip(w, w[1:]):
                pairs[(a, b)] = pairs.get((a, b), 0) + c
        if not pairs:
            break
        (a, b), c = min(pairs.items(), key=lambda kv: (-kv[1], kv[0]))
        v.merges.append(a + " " + b)
        v.add(a + b)
        nw = {}
        for w, n in words.items():
            out, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and w[i] == a and w[i + 1] == b:
                    out.append(a + b)
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            nw[tuple(out)] = nw.get(tuple(out), 0) + n
        words = nw
    # a whole word no merge makes: Llama 3 takes it as it is
    v.add("".join(B2U[b] for b in " quixotic".encode()))
    v.bos = v.add("<|begin_of_text|>", CONTROL)
    v.eos = v.add("<|end_of_text|>", CONTROL)
    v.add("<|start_header_id|>", CONTROL)
    v.add("<|end_header_id|>", CONTROL)
    v.eot = v.add("<|eot_id|>", CONTROL)
    v.add("<|im_start|>", CONTROL)
    v.add("<|im_end|>", CONTROL)
    v.add("<tool>", USER_DEFINED)
    return v


# ---- encoding -----------------------------------------------------------------------

def partition(v, data, parse_special):
    """Special tokens' texts, the longest first, split the text."""
    frags = [data] if data else []
    special = [i for i, ty in enumerate(v.types)
               if (ty == USER_DEFINED or (ty == CONTROL and parse_special)) and v.toks[i]]
    special.sort(key=lambda i: (-len(v.toks[i]), i))
    for sid in special:
        tok, nf = v.toks[sid], []
        for f in frags:
            if isinstance(f, int):
                nf.append(f)
                continue
            parts = f.split(tok)
            for k, p in enumerate(parts):
                if k:
                    nf.append(sid)
                if p:
                    nf.append(p)
        frags = nf
    return frags


def byte_ids(v, bs):
    out = []
    for b in bs:
        out.append(v.ids.get(("<0x%02X>" % b).encode(), v.unk) if v.kind == "spm" else v.ids.get(B2U[b].encode(), v.unk))
    return out


def spm_text(v, frag, prefix):
    esc = ((" " if prefix else "").encode() + frag).replace(b" ", SP.encode())
    syms = []
    for p in pieces_of_bytes(esc):
        if isinstance(p, int):
            syms.append(bytes([p]))
        else:
            syms.extend(ch.encode("utf-8") for ch in p)

    def piece(b):
        i = v.ids.get(b)
        return i if i is not None and v.types[i] in (NORMAL, USER_DEFINED) else None

    while True:
        best = None
        for i in range(len(syms) - 1):
            t = piece(syms[i] + syms[i + 1])
            if t is not None and (best is None or v.scores[t] > v.scores[best[1]]):
                best = (i, t)
        if best is None:
            break
        i = best[0]
        syms[i:i + 2] = [syms[i] + syms[i + 1]]
    out = []
    for s in syms:
        t = piece(s)
        out.extend([t] if t is not None else byte_ids(v, s))
    return out


def bpe_piece(v, w):
    mapped = "".join(B2U[b] for b in w)
    if v.pretok == "llama3" and mapped.encode() in v.ids:
        return [v.ids[mapped.encode()]]
    if not hasattr(v, "rank"):
        v.rank = {tuple(m.split(" ", 1)): r for r, m in reversed(list(enumerate(v.merges)))}
    rank = v.rank
    syms = list(mapped)
    while True:
        best = None
        for i in range(len(syms) - 1):
            r = rank.get((syms[i], syms[i + 1]))
            if r is not None and (best is None or r < best[1]):
                best = (i, r)
        if best is None:
            break
        i = best[0]
        syms[i:i + 2] = [syms[i] + syms[i + 1]]
    return [v.ids.get(s.encode(), v.unk) for s in syms]


def encode(v, data, add_bos, parse_special):
    out = [v.bos] if add_bos and v.bos >= 0 else []
    prefix = True
    for f in partition(v, data, parse_special):
        if isinstance(f, int):
            out.append(f)
            prefix = True
        elif v.kind == "spm":
            out.extend(spm_text(v, f, prefix))
            prefix = False
        else:
            for w in pretokenize(v, f):
                out.extend(bpe_piece(v, w))
    return out


def decode(v, ids):
    raw = b""
    for i in ids:
        if i < 0 or i >= len(v.toks) or v.types[i] == UNKNOWN:
            raw += "\ufffd".encode()
            continue
        ty, t = v.types[i], v.toks[i]
        if ty in (CONTROL, UNUSED):
            continue
        if ty == USER_DEFINED:
            raw += t
        elif v.kind == "spm":
            s = t.decode()
            raw += bytes([int(s[3:5], 16)]) if ty == BYTE else s.replace(SP, " ").encode()
        else:
            raw += b"".join(bytes([U2B[c]]) if c in U2B else c.encode() for c in t.decode())
    if v.kind == "spm" and raw.startswith(b" "):
        raw = raw[1:]   # the prefix space SentencePiece put in front
    return raw.decode("utf-8", "replace").encode("utf-8")


# ---- vectors -----------------------------------------------------------------------

FIXED = [
    "", " ", "  ", "   ", "a", "hello world", " hello  world ", "   leading", "trailing   ",
    "Hello, World! It's I'm we're they've he'll she'd don't", "IT'S WE'RE THEY'VE I'M HE'LL SHE'D",
    "'Sup x'LLama x'dunno x'REED we'Re x'Ve'tx x'\u017fx",
    "\t\ttab\tand\nnewline\n\n", "a\r\nb\r\n\r\n  c", "x \n y", "a   b", "a \t\n b",
    "1234567 89 0.5 1,000,000 12345678901", "x = foo(bar) + 42;", "!!! ??? ...",
    "\U0001F600\U0001F44D\U0001F3FD family \U0001F468\u200d\U0001F469\u200d\U0001F467",
    "\u4e2d\u6587\u5206\u8bcd\u6d4b\u8bd5\uff0c\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8",
    "e\u0301 a\u0308 \u00c5 \u0928\u092e\u0938\u094d\u0924\u0947", "\ufb01 \u01c5 \u0663\u0664\u0665 \u216b \u00bd",
    "a\u00a0b \u3000c\u2028d", "The quick brown fox jumps over the lazy dog.", " quixotic", "quixotic",
    "<|im_start|>user\nhi<|im_end|>", "<s>text</s>", "<tool>call <tool>", "a<|eot_id|>b", "a\u00a7b \u00a7",
    "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>", TRAIN,
]
INVALID = [b"\x80abc", b"ab\xe4\xb8", b"\xe4\xb8a", b"\xff\xfe", b"\xed\xa0\x80", b"\xc0\xaf",
           b"\xf4\x90\x80\x80", b"a \xff b", b"\xf0\x9f\x98", b"x\xf0\x9f\x98\x80\x80y"]
ALPHABET = list("aeio tTsdlr'\n\t,.!?0123456789 ") + ["  ", "\u00e9", "e\u0301", "\u4e2d", "\U0001F600",
                                                     "\u00a0", "\r\n", "I'M", "quick", "the"]


def inputs():
    rnd = random.Random(1234)
    out = [s.encode("utf-8") for s in FIXED] + INVALID
    for _ in range(150):
        out.append("".join(rnd.choice(ALPHABET) for _ in range(rnd.randint(1, 30))).encode("utf-8"))
    for _ in range(30):
        out.append(bytes(rnd.randrange(256) for _ in range(rnd.randint(1, 12))))
    return out


def round_trips(v, data):
    """Valid UTF-8 comes back as it was, except that SentencePiece puts a
    space after each special token (USER_DEFINED ones are taken even
    without parse_special)."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return v.kind != "spm" or all(v.types[i] != USER_DEFINED for i in encode(v, data, False, False))


def write_vectors(v, path):
    rnd = random.Random(99)
    with open(path, "w") as f:
        for data in inputs():
            for add_bos, special in ((False, False), (True, True)):
                ids = encode(v, data, add_bos, special)
                f.write(f"E {int(add_bos)} {int(special)} {hexs(data)} : {' '.join(map(str, ids))}\n")
                f.write(f"D {hexs(decode(v, ids))} : {' '.join(map(str, ids))}\n")
            if round_trips(v, data):
                f.write(f"R {hexs(data)}\n")
        # arbitrary sequences: byte tokens that split characters, control
        # tokens, ids out of range
        for _ in range(300):
            ids = [rnd.randrange(-2, len(v.toks) + 2) for _ in range(rnd.randint(1, 12))]
            f.write(f"D {hexs(decode(v, ids))} : {' '.join(map(str, ids))}\n")
        if v.kind == "spm":
            for seq in ([b"\xe4", b"\xb8", b"\xad"], [b"\xe4", b"a"], [b"\xf0", b"\x9f", b"\x98"],
                        [b"\xf0", b"\x9f", b"\x98", b"\x80"], [b"\xff"], [b"\xc3", b"\xa9", b"\xe2", b"\x82"]):
                ids = [v.ids[("<0x%02X>" % s[0]).encode()] for s in seq]
                f.write(f"D {hexs(decode(v, ids))} : {' '.join(map(str, ids))}\n")


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for name, v in (("spm", build_spm()), ("gpt2", build_bpe("gpt2")), ("llama3", build_bpe("llama3"))):
        # the reference's own round trip, so that the vectors hold it too
        for data in inputs():
            if not round_trips(v, data):
                continue
            got = decode(v, encode(v, data, False, False))
            if got != data:
                sys.exit(f"ref_tok: {name}: round trip of {data!r} gives {got!r}")
        v.write(os.path.join(out, name + ".vocab"))
        write_vectors(v, os.path.join(out, name + ".vec"))


if __name__ == "__main__":
    main()
