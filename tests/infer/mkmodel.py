#!/usr/bin/env python3
"""Writes a tiny llama model with seeded random weights, for the tests.

  mkmodel.py --format gguf|hf --out PATH [--type f32|f16|bf16|q8_0]
             [--vocab spm|bpe] [--dim N] [--layers N] [--heads N]
             [--kv-heads N] [--ffn N] [--ctx N] [--tied] [--split N]
             [--seed S] [--llama3-rope] [--sliding-window N] [--gguf-version 2|3]
             [--corrupt KIND]

gguf: PATH is the file (with --split N: PATH without .gguf becomes the
prefix of PREFIX-0000K-of-0000N.gguf).  hf: PATH is the directory.
The same seed gives the same model in both formats: the weights are drawn
in Hugging Face's layout and Q/K rows are permuted for GGUF the way
llama.cpp's converter does (GGUF rotates adjacent pairs, HF halves).
--corrupt KIND writes a bad model (see CORRUPT below).  Python's standard
library only."""
import argparse, json, math, os, random, struct, sys

CORRUPT = {
    "gguf": ["truncated-header", "truncated-data", "bad-magic", "bad-version", "huge-tensor-count",
             "huge-kv-count", "huge-string", "huge-array", "bad-offset", "misaligned-offset",
             "unknown-type", "shape", "missing-tensor", "nested-array", "bad-token-id", "arch",
             "tokenizer-model", "duplicate-key", "vocab-size", "arch-bytes", "duplicate-tensor"],
    "hf": ["duplicate-tensor", "shape", "rope-yarn", "dtype", "arch", "vocab-size", "bad-json", "index-lies", "huge-id"],
}

# ---- vocabularies -----------------------------------------------------------

TEXT = ("the quick brown fox jumps over the lazy dog. hello world, this is a test of the "
        "tokenizer and the model. numbers 0123456789 and 2026 are here. the cat sat on the mat; "
        "we are testing byte level pairs in the house with the appliance and its six gpus. "
        "a model that runs at home from a wall plug should just work, and when it does not, "
        "it says what is wrong: which file, which tensor, which key. people like simple things "
        "that keep working; they read the message, fix the file and try again.")

def spm_vocab():
    toks = [("<unk>", 0.0, 2), ("<s>", 0.0, 3), ("</s>", 0.0, 3)]
    toks += [("<0x%02X>" % b, 0.0, 6) for b in range(256)]
    pieces = ["\u2581"] + [chr(c) for c in range(ord("a"), ord("z") + 1)]
    pieces += [chr(c) for c in range(ord("A"), ord("Z") + 1)] + [str(d) for d in range(10)]
    pieces += list(".,;:!?'-")
    words = []
    for w in TEXT.replace(".", " ").replace(",", " ").replace(";", " ").split():
        for p in ["\u2581" + w[:k] for k in range(1, len(w) + 1)] + [w[:k] for k in range(2, len(w) + 1)]:
            if p not in pieces and p not in words:
                words.append(p)
    pieces += words[:200 - len(pieces)] if len(pieces) < 200 else []
    score = -1.0
    for p in pieces:
        toks.append((p, score, 1))
        score -= 1.0
    return toks

def byte_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}

BPE_SPECIALS = ["<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>", "<|start_header_id|>",
                "<|end_header_id|>"]

def bpe_vocab(n_merges=200):
    """Byte-level BPE trained on TEXT: the most frequent pair first, ties
    broken by the pair's text, so that the result is deterministic."""
    b2u = byte_to_unicode()
    toks = [b2u[b] for b in range(256)]
    words = {}
    for i, w in enumerate(TEXT.split(" ")):
        key = tuple(b2u[b] for b in ((" " if i else "") + w).encode())
        words[key] = words.get(key, 0) + 1
    merges = []
    for _ in range(n_merges):
        pairs = {}
        for w, c in words.items():
            for a, b in zip(w, w[1:]):
                pairs[(a, b)] = pairs.get((a, b), 0) + c
        if not pairs:
            break
        best = min(pairs, key=lambda p: (-pairs[p], p))
        merges.append(best)
        toks.append(best[0] + best[1])
        new = {}
        for w, c in words.items():
            out, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and (w[i], w[i + 1]) == best:
                    out.append(w[i] + w[i + 1]); i += 2
                else:
                    out.append(w[i]); i += 1
            new[tuple(out)] = new.get(tuple(out), 0) + c
        words = new
    return toks, merges

LLAMA3_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
                r"\s*[\r\n]+|\s+(?!\S)|\s+")
LLAMA3_TEMPLATE = ("{{ bos_token }}{% for message in messages %}{{ '<|start_header_id|>' + message['role'] + "
                   "'<|end_header_id|>\n\n' + message['content'] | trim + '<|eot_id|>' }}{% endfor %}"
                   "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}")
CHATML_TEMPLATE = ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + "
                   "'<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")

class Vocab:
    def __init__(self, kind):
        self.kind = kind
        if kind == "spm":
            v = spm_vocab()
            self.tokens = [t for t, _, _ in v]
            self.scores = [s for _, s, _ in v]
            self.types = [k for _, _, k in v]
            ids = {t: i for i, t in enumerate(self.tokens)}
            self.merges = []
            for t in self.tokens[259:]:
                for k in range(1, len(t)):
                    if t[:k] in ids and t[k:] in ids and ids[t[:k]] >= 259 and ids[t[k:]] >= 259:
                        self.merges.append((t[:k], t[k:]))
                        break
            self.bos, self.eos, self.unk = 1, 2, 0
        else:
            toks, merges = bpe_vocab()
            self.tokens = toks + BPE_SPECIALS
            self.scores = None
            self.types = [1] * len(toks) + [3] * len(BPE_SPECIALS)
            self.merges = merges
            self.bos, self.eos, self.unk = len(toks), len(toks) + 2, -1
        self.n = len(self.tokens)

# ---- weights ----------------------------------------------------------------

def bf16_bits(x):
    u = struct.unpack("<I", struct.pack("<f", x))[0]
    return (u + 0x7FFF + ((u >> 16) & 1)) >> 16

def encode(vals, typ):
    if typ == "f32":
        return struct.pack("<%df" % len(vals), *vals)
    if typ == "f16":
        return struct.pack("<%de" % len(vals), *vals)
    if typ == "bf16":
        return struct.pack("<%dH" % len(vals), *[bf16_bits(v) for v in vals])
    out = bytearray()  # q8_0 like ggml: d = max|x| / 127, q = round(x / d)
    for i in range(0, len(vals), 32):
        blk = vals[i:i + 32]
        amax = max(abs(v) for v in blk)
        d = amax / 127.0
        inv = 1.0 / d if d else 0.0
        out += struct.pack("<e", d) + struct.pack("<32b", *[max(-128, min(127, int(round(v * inv)))) for v in blk])
    return bytes(out)

def permute_rows(w, rows, cols, n_head):
    """llama.cpp's permute for GGUF: within each head, row j*hd/2 + i
    (halves) becomes row 2i + j (adjacent pairs)."""
    hd = rows // n_head
    out = [None] * rows
    for h in range(n_head):
        for i in range(hd // 2):
            for j in range(2):
                out[h * hd + 2 * i + j] = w[(h * hd + j * (hd // 2) + i) * cols:(h * hd + j * (hd // 2) + i + 1) * cols]
    return [x for r in out for x in r]

def llama3_freq_factors(head_dim, theta, factor, low, high, orig):
    """The rope_freqs.weight llama.cpp's converter writes for rope_type llama3."""
    out = []
    for i in range(0, head_dim, 2):
        freq = 1.0 / (theta ** (i / head_dim))
        wavelen = 2 * math.pi / freq
        if wavelen < orig / high:
            out.append(1.0)
        elif wavelen > orig / low:
            out.append(factor)
        else:
            smooth = (orig / wavelen - low) / (high - low)
            out.append(1.0 / ((1 - smooth) / factor + smooth))
    return out

def tensors(a, vocab_n):
    """(gguf name, hf name, ne (ggml order), floats, is_norm), HF layout."""
    rnd = random.Random(a.seed)
    hd = a.dim // a.heads
    def mat(rows, cols):
        s = 0.5 / math.sqrt(cols)
        return [rnd.uniform(-s, s) for _ in range(rows * cols)]
    def norm(n):
        return [1.0 + rnd.uniform(-0.1, 0.1) for _ in range(n)]
    out = [("token_embd.weight", "model.embed_tokens.weight", [a.dim, vocab_n],
            [rnd.uniform(-0.5, 0.5) for _ in range(vocab_n * a.dim)], False)]
    for l in range(a.layers):
        p, g = "model.layers.%d." % l, "blk.%d." % l
        out.append((g + "attn_norm.weight", p + "input_layernorm.weight", [a.dim], norm(a.dim), True))
        out.append((g + "attn_q.weight", p + "self_attn.q_proj.weight", [a.dim, a.heads * hd], mat(a.heads * hd, a.dim), False))
        out.append((g + "attn_k.weight", p + "self_attn.k_proj.weight", [a.dim, a.kv_heads * hd], mat(a.kv_heads * hd, a.dim), False))
        out.append((g + "attn_v.weight", p + "self_attn.v_proj.weight", [a.dim, a.kv_heads * hd], mat(a.kv_heads * hd, a.dim), False))
        out.append((g + "attn_output.weight", p + "self_attn.o_proj.weight", [a.heads * hd, a.dim], mat(a.dim, a.heads * hd), False))
        out.append((g + "ffn_norm.weight", p + "post_attention_layernorm.weight", [a.dim], norm(a.dim), True))
        out.append((g + "ffn_gate.weight", p + "mlp.gate_proj.weight", [a.dim, a.ffn], mat(a.ffn, a.dim), False))
        out.append((g + "ffn_up.weight", p + "mlp.up_proj.weight", [a.dim, a.ffn], mat(a.ffn, a.dim), False))
        out.append((g + "ffn_down.weight", p + "mlp.down_proj.weight", [a.ffn, a.dim], mat(a.dim, a.ffn), False))
    out.append(("output_norm.weight", "model.norm.weight", [a.dim], norm(a.dim), True))
    if not a.tied:
        out.append(("output.weight", "lm_head.weight", [a.dim, vocab_n], mat(vocab_n, a.dim), False))
    return out

# ---- GGUF -------------------------------------------------------------------

U32, I32, F32, BOOL, STRING, ARRAY = 4, 5, 6, 7, 8, 9
GGML = {"f32": 0, "f16": 1, "q8_0": 8, "bf16": 30}

def gstr(s):
    b = s.encode() if isinstance(s, str) else s
    return struct.pack("<Q", len(b)) + b

def gval(t, v):
    if t == STRING:
        return gstr(v)
    if t == ARRAY:
        et, items = v
        return struct.pack("<IQ", et, len(items)) + b"".join(gval(et, x) for x in items)
    return struct.pack({U32: "<I", I32: "<i", F32: "<f", BOOL: "<?", 0: "<B", 2: "<H"}[t], v)

def write_gguf(path, kvs, tinfos, corrupt=None, align=32, version=3):
    """kvs: [(key, type, value)]; tinfos: [(name, ne, ggml type, data)].
    Returns the file's bytes after writing."""
    marks = {}
    head = bytearray(b"GGUF" + struct.pack("<IQQ", version, len(tinfos), len(kvs)))
    for k, t, v in kvs:
        if k == "tokenizer.ggml.tokens":
            marks["tokens_count"] = len(head) + len(gstr(k)) + 4 + 4
        if not marks.get("first_key"):
            marks["first_key"] = len(head)
        head += gstr(k) + struct.pack("<I", t) + gval(t, v)
    off, blobs = 0, []
    for i, (name, ne, gt, data) in enumerate(tinfos):
        head += gstr(name) + struct.pack("<I", len(ne)) + struct.pack("<%dQ" % len(ne), *ne)
        if i == 0:
            marks["type0"] = len(head)
        head += struct.pack("<I", gt)
        if i == 0:
            marks["offset0"] = len(head)
        head += struct.pack("<Q", off)
        pad = (-len(data)) % align
        blobs.append(data + b"\0" * pad)
        off += len(data) + pad
    head += b"\0" * ((-len(head)) % align)
    out = bytearray(head + b"".join(blobs))
    def patch(at, fmt, v):
        out[at:at + struct.calcsize(fmt)] = struct.pack(fmt, v)
    if corrupt == "truncated-header":
        out = out[:len(head) // 2]
    elif corrupt == "truncated-data":
        out = out[:len(head) + (len(out) - len(head)) // 2]
    elif corrupt == "bad-magic":
        out[0:4] = b"GGUX"
    elif corrupt == "bad-version":
        patch(4, "<I", 7)
    elif corrupt == "huge-tensor-count":
        patch(8, "<Q", 1 << 60)
    elif corrupt == "huge-kv-count":
        patch(16, "<Q", 1 << 60)
    elif corrupt == "huge-string":
        patch(marks["first_key"], "<Q", 1 << 40)
    elif corrupt == "huge-array":
        patch(marks["tokens_count"], "<Q", (1 << 62) + 5)
    elif corrupt == "bad-offset":
        patch(marks["offset0"], "<Q", 1 << 50)
    elif corrupt == "misaligned-offset":
        patch(marks["offset0"], "<Q", 8)
    elif corrupt == "unknown-type":
        patch(marks["type0"], "<I", 2)
    with open(path, "wb") as f:
        f.write(out)

def gguf_kvs(a, v, corrupt):
    hd = a.dim // a.heads
    arch = {"arch": "gpt2", "arch-bytes": b"\x1b[2Jllama\xff"}.get(corrupt, "llama")
    kv = [("general.architecture", STRING, arch),
          ("general.name", STRING, "tiny-%s-%s" % (a.vocab, a.type)),
          ("general.alignment", U32, 32),
          ("llama.context_length", U32, a.ctx), ("llama.embedding_length", U32, a.dim),
          ("llama.block_count", U32, a.layers), ("llama.feed_forward_length", U32, a.ffn),
          ("llama.attention.head_count", U32, a.heads), ("llama.attention.head_count_kv", U32, a.kv_heads),
          ("llama.attention.layer_norm_rms_epsilon", F32, 1e-5),
          ("llama.rope.freq_base", F32, a.theta), ("llama.rope.dimension_count", U32, hd)] + \
         ([("llama.attention.sliding_window", U32, a.sliding_window)] if a.sliding_window else []) + [
          ("tokenizer.ggml.model", STRING, "bert" if corrupt == "tokenizer-model" else
           ("llama" if v.kind == "spm" else "gpt2"))]
    if v.kind == "bpe":
        kv.append(("tokenizer.ggml.pre", STRING, "llama-bpe"))
    kv.append(("tokenizer.ggml.tokens", ARRAY, (STRING, v.tokens)))
    if v.scores:
        kv.append(("tokenizer.ggml.scores", ARRAY, (F32, v.scores)))
    kv.append(("tokenizer.ggml.token_type", ARRAY, (I32, v.types)))
    if v.merges:
        kv.append(("tokenizer.ggml.merges", ARRAY, (STRING, ["%s %s" % m for m in v.merges])))
    kv.append(("tokenizer.ggml.bos_token_id", U32, v.n if corrupt == "bad-token-id" else v.bos))
    kv.append(("tokenizer.ggml.eos_token_id", U32, v.eos))
    if v.unk >= 0:
        kv.append(("tokenizer.ggml.unknown_token_id", U32, v.unk))
    if v.kind == "bpe":
        kv.append(("tokenizer.ggml.eot_token_id", U32, v.tokens.index("<|eot_id|>")))
    kv.append(("tokenizer.ggml.add_bos_token", BOOL, True))
    kv.append(("tokenizer.chat_template", STRING, LLAMA3_TEMPLATE if v.kind == "bpe" else CHATML_TEMPLATE))
    if corrupt == "nested-array":
        kv.append(("test.nested", ARRAY, (ARRAY, [])))
    if corrupt == "duplicate-key":
        kv.append(("llama.block_count", U32, a.layers))
    return kv

def gguf_model(a, v, ts):
    typ = a.type
    hd = a.dim // a.heads
    tinfos = []
    for name, _, ne, vals, is_norm in ts:
        if name.endswith("attn_q.weight"):
            vals = permute_rows(vals, ne[1], ne[0], a.heads)
        elif name.endswith("attn_k.weight"):
            vals = permute_rows(vals, ne[1], ne[0], a.kv_heads)
        t = "f32" if is_norm else typ
        if a.corrupt == "missing-tensor" and name == "blk.0.ffn_down.weight":
            continue
        if a.corrupt == "shape" and name == "blk.0.attn_q.weight":
            ne = [ne[0], ne[1] - 2]
            vals = vals[:ne[0] * ne[1]]
        tinfos.append((name, ne, GGML[t], encode(vals, t)))
    if a.corrupt == "duplicate-tensor":
        tinfos.append(tinfos[1])
    if a.llama3_rope:
        ff = llama3_freq_factors(hd, a.theta, 8.0, 1.0, 4.0, 32)
        tinfos.append(("rope_freqs.weight", [hd // 2], 0, encode(ff, "f32")))
    kvs = gguf_kvs(a, v, a.corrupt)
    if a.split <= 1:
        write_gguf(a.out, kvs, tinfos, a.corrupt, version=a.gguf_version)
        return
    prefix = a.out[:-5] if a.out.endswith(".gguf") else a.out
    per = -(-len(tinfos) // a.split)
    for k in range(a.split):
        part = tinfos[k * per:(k + 1) * per]
        split = [("split.no", 2, k), ("split.count", 2, a.split), ("split.tensors.count", I32, len(tinfos))]
        write_gguf("%s-%05d-of-%05d.gguf" % (prefix, k + 1, a.split), (kvs if k == 0 else []) + split, part)

# ---- Hugging Face -------------------------------------------------------------

ST_DTYPE = {"f32": "F32", "f16": "F16", "bf16": "BF16"}

def write_safetensors(path, items):
    """items: [(name, shape, dtype, bytes)]"""
    hdr, off = {}, 0
    for name, shape, dt, data in items:
        hdr[name] = {"dtype": dt, "shape": shape, "data_offsets": [off, off + len(data)]}
        off += len(data)
    h = json.dumps(hdr, separators=(",", ":")).encode()
    h += b" " * ((-len(h)) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(d for _, _, _, d in items))

def hf_tokenizer(a, v):
    if v.kind == "bpe":
        model = {"type": "BPE", "vocab": {t: i for i, t in enumerate(v.tokens[:v.n - len(BPE_SPECIALS)])},
                 "merges": [list(m) if i % 2 else "%s %s" % m for i, m in enumerate(v.merges)],
                 "byte_fallback": False}
        pre = {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": LLAMA3_REGEX}, "behavior": "Isolated", "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]}
        added = [{"id": v.n - len(BPE_SPECIALS) + i, "content": s, "special": True}
                 for i, s in enumerate(BPE_SPECIALS)]
        cfg = {"bos_token": "<|begin_of_text|>", "eos_token": {"content": "<|eot_id|>"},
               "add_bos_token": True, "chat_template": LLAMA3_TEMPLATE}
    else:
        model = {"type": "BPE", "vocab": {t: i for i, t in enumerate(v.tokens)},
                 "merges": ["%s %s" % m for m in v.merges], "byte_fallback": True, "unk_token": "<unk>"}
        pre = None
        added = [{"id": i, "content": v.tokens[i], "special": True} for i in range(3)]
        cfg = {"bos_token": "<s>", "eos_token": "</s>", "add_bos_token": True, "chat_template": CHATML_TEMPLATE}
    if a.corrupt == "huge-id":
        added.append({"id": 16000000, "content": "<|far|>", "special": True})
    tok = {"version": "1.0", "added_tokens": added, "normalizer": None, "pre_tokenizer": pre, "model": model}
    return tok, cfg

def hf_model(a, v, ts, vocab_n):
    os.makedirs(a.out, exist_ok=True)
    hd = a.dim // a.heads
    cfg = {"architectures": ["LlamaForCausalLM"], "model_type": "gpt2" if a.corrupt == "arch" else "llama",
           "hidden_size": a.dim, "intermediate_size": a.ffn + (2 if a.corrupt == "shape" else 0),
           "num_hidden_layers": a.layers, "num_attention_heads": a.heads, "num_key_value_heads": a.kv_heads,
           "head_dim": hd, "rms_norm_eps": 1e-5, "rope_theta": a.theta, "max_position_embeddings": a.ctx,
           "vocab_size": vocab_n, "tie_word_embeddings": a.tied, "hidden_act": "silu",
           "torch_dtype": {"f32": "float32", "f16": "float16", "bf16": "bfloat16"}[a.type]}
    if a.sliding_window:
        cfg["sliding_window"] = a.sliding_window
    if a.llama3_rope:
        cfg["rope_scaling"] = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                               "high_freq_factor": 4.0, "original_max_position_embeddings": 32}
    if a.corrupt == "rope-yarn":
        cfg["rope_scaling"] = {"rope_type": "yarn", "factor": 4.0}
    with open(os.path.join(a.out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    items = []
    for name, hfname, ne, vals, _ in ts:
        dt = ST_DTYPE[a.type]
        if a.corrupt == "dtype" and name == "blk.0.attn_q.weight":
            dt = {"F32": "I32", "F16": "I16", "BF16": "I16"}[dt]
        items.append((hfname, list(reversed(ne)), dt, encode(vals, a.type)))
    if a.corrupt == "duplicate-tensor":
        a.split = 2  # the same tensor in both shards
        items.append(items[1])
    if a.split <= 1:
        write_safetensors(os.path.join(a.out, "model.safetensors"), items)
    else:
        per = -(-len(items) // a.split)
        wm = {}
        for k in range(a.split):
            fn = "model-%05d-of-%05d.safetensors" % (k + 1, a.split)
            part = items[k * per:(k + 1) * per]
            write_safetensors(os.path.join(a.out, fn), part)
            wm.update({n: fn for n, _, _, _ in part})
        if a.corrupt == "index-lies":
            wm["model.norm.weight"] = "model-00001-of-%05d.safetensors" % a.split
        with open(os.path.join(a.out, "model.safetensors.index.json"), "w") as f:
            json.dump({"metadata": {}, "weight_map": wm}, f, indent=1)
    tok, tcfg = hf_tokenizer(a, v)
    with open(os.path.join(a.out, "tokenizer.json"), "w") as f:
        if a.corrupt == "bad-json":
            f.write(json.dumps(tok)[:-10])
        else:
            json.dump(tok, f, ensure_ascii=False)
    with open(os.path.join(a.out, "tokenizer_config.json"), "w") as f:
        json.dump(tcfg, f, indent=1)

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--format", choices=["gguf", "hf"], required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--type", choices=["f32", "f16", "bf16", "q8_0"], default="f32")
    p.add_argument("--vocab", choices=["spm", "bpe"], default="spm")
    p.add_argument("--dim", type=int, default=48)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--kv-heads", type=int, default=None)
    p.add_argument("--ffn", type=int, default=80)
    p.add_argument("--ctx", type=int, default=256)
    p.add_argument("--theta", type=float, default=10000.0)
    p.add_argument("--tied", action="store_true")
    p.add_argument("--split", type=int, default=1)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--llama3-rope", action="store_true")
    p.add_argument("--sliding-window", type=int, default=0)
    p.add_argument("--corrupt", default=None)
    p.add_argument("--gguf-version", type=int, choices=[2, 3], default=3)
    a = p.parse_args()
    a.kv_heads = a.kv_heads or a.heads
    if a.format == "hf" and a.type == "q8_0":
        p.error("Hugging Face models are f32, f16 or bf16")
    if a.corrupt == "index-lies":
        a.split = max(a.split, 2)
    if a.corrupt and a.corrupt not in CORRUPT[a.format]:
        p.error("--corrupt for %s: one of %s" % (a.format, ", ".join(CORRUPT[a.format])))
    if a.dim % a.heads or (a.dim // a.heads) % 2 or a.heads % a.kv_heads:
        p.error("dim must split into heads of an even size, heads into kv-heads")
    if a.type == "q8_0" and (a.dim % 32 or a.ffn % 32):
        p.error("q8_0 rows are whole blocks of 32: dim and ffn must be multiples of 32")
    v = Vocab(a.vocab)
    vocab_n = v.n + (1 if a.corrupt == "vocab-size" else 0)
    ts = tensors(a, vocab_n)
    (gguf_model if a.format == "gguf" else lambda a, v, ts: hf_model(a, v, ts, vocab_n))(a, v, ts)

if __name__ == "__main__":
    main()
