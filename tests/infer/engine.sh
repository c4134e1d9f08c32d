#!/bin/sh
# The engine on the simulated box (tests/infer/test_engine.c): GGUF models in
# f32 and f16 (bf16 and Q8_0 are in engine_q.sh), greedy generation on 1 and
# 6 GPUs against the host reference forward pass; bad arguments.
. "$TB_SRC/tests/tap.sh"
. "$TB_SRC/tests/infer/engine.inc.sh"
# GPUS "1,6": one GPU and six, each against the reference; EXTRA "--bad":
# the bad-argument checks too
run_model 1,6 --bad gguf f32 spm 40 72 4 2
run_model 6 "" gguf f16 bpe 40 72 5 5 --tied

