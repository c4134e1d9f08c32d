# tests/diag: tb diag on the simulated box
TESTS += tests/diag/diag.sh tests/diag/thermal.sh tests/diag/levels.sh tests/diag/long.sh
$(TBIN)/test_diag_perf: $(call objs,tests/diag/test_perf.c diag/perf.c diag/common.c)
	$(link) $(call pc,jansson) -lm
TESTS += $(TBIN)/test_diag_perf
$(TBIN)/test_diag_power: $(call objs,tests/diag/test_power.c diag/power.c diag/common.c)
	$(link) $(call pc,jansson) -lm
TESTS += $(TBIN)/test_diag_power
