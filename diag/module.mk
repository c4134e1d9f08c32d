# diag/: tb diag, the stress diagnostic, and its GPU kernels (installed
# with it in build/share/tb, where it finds them).
diag_SRCS := diag/main.c diag/common.c diag/supervisor.c diag/worker.c diag/inventory.c diag/journal.c \
             diag/report.c diag/monitor.c diag/history.c diag/perf.c diag/watch.c diag/live.c diag/power.c
DIAG_KERNELS := $(BUILD)/share/tb/diag.co
PROGS += $(LIBEXEC)/tb-diag $(DIAG_KERNELS)
$(LIBEXEC)/tb-diag: $(call objs,$(diag_SRCS)) $(LIB)/libtbhal.a $(LIB)/libtbdrv.a | $(DIAG_KERNELS)
	$(link) $(LIBS_TBDRV) $(call pc,jansson) -lm

$(BUILD)/share/tb/diag.co: $(GPU)/diag/kernels/diag.co
	@mkdir -p $(@D)
	@cp $< $@
BENCHES += diag/bench.sh
