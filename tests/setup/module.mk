# tests/setup: tb setup's framework and each of its steps, on fixture roots
# and the simulated box (one TESTS line per step's tests)
TESTS += tests/setup/framework.sh
TESTS += tests/setup/power.sh tests/setup/fans.sh
TESTS += tests/setup/services.sh
TESTS += tests/setup/resume.sh
# the storage step: its planner over generated inventories, its fstab and
# mdadm.conf editors on fixtures, and the step on the box's drives
$(TBIN)/test_storage_plan: $(call objs,tests/setup/test_storage_plan.c) $(LIB)/libtbsetup.a
	$(link)
$(TBIN)/test_storage_edit: $(call objs,tests/setup/test_storage_edit.c) $(LIB)/libtbsetup.a
	$(link)
TESTS += $(TBIN)/test_storage_plan $(TBIN)/test_storage_edit tests/setup/storage.sh
