#!/bin/sh
# libtbinfer's tokenizers: ref_tok.py (an independent Python implementation)
# builds three vocabularies (SentencePiece, GPT-2 and Llama 3 byte-level BPE)
# and their vectors; test_tok must reproduce them exactly.
set -u
: "${TB_BUILD:?}" "${TB_SRC:?}"
. "$TB_SRC/tests/tap.sh"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
check "ref_tok.py builds the vocabularies and vectors" python3 "$TB_SRC/tests/infer/tok/ref_tok.py" "$dir"
tap_run "" "$TB_BUILD/tests/test_tok" "$dir"
echo "1..$tap_n"
