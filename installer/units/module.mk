# The systemd units tb setup installs and enables, where an installed stack
# keeps them: PREFIX/lib/systemd/system (the build's PREFIX is $(BUILD)).
# tb setup's services step copies one into ROOT/etc/systemd/system when the
# root has none (a package's own unit in /lib/systemd/system is left alone).
setup_UNITS := fancontrol/tb-fand.service storage/tb-stored.service infer/server/tb-inferd.service
setup_UNIT_DIR := $(LIB)/systemd/system
PROGS += $(addprefix $(setup_UNIT_DIR)/,$(notdir $(setup_UNITS)))
$(foreach u,$(setup_UNITS),$(eval $(setup_UNIT_DIR)/$(notdir $(u)): $(u)))
$(setup_UNIT_DIR)/%.service:
	@mkdir -p $(@D)
	@echo "  UNIT  $@"
	@cp $< $@
