#!/bin/sh
# The engine on the simulated box (tests/infer/test_engine.c), the second
# half of engine.sh's GGUF models (split so that each script stays well
# inside the runner's limit on a loaded machine): bf16 with Llama 3's RoPE
# on 3 GPUs and Q8_0 on 6, against the host reference forward pass.
. "$TB_SRC/tests/tap.sh"
. "$TB_SRC/tests/infer/engine.inc.sh"
run_model 3 "" gguf bf16 spm 48 80 6 2 --llama3-rope
run_model 6 "" gguf q8_0 bpe 64 96 4 2
