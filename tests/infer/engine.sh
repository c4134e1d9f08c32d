#!/bin/sh
# The engine on the simulated box (tests/infer/test_engine.c): GGUF models in
# every weight type, greedy generation on 1, 3 and 6 GPUs against the host
# reference forward pass; bad arguments.
. "$TB_SRC/tests/tap.sh"
. "$TB_SRC/tests/infer/engine.inc.sh"
# GPUS "1,6": one GPU and six, each against the reference; EXTRA "--bad":
# the bad-argument checks too
run_model 1,6 --bad gguf f32 spm 40 72 4 2
run_model 6 "" gguf f16 bpe 40 72 5 5 --tied
run_model 3 "" gguf bf16 spm 48 80 6 2 --llama3-rope
run_model 6 "" gguf q8_0 bpe 64 96 4 2

