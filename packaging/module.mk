# packaging/: make install and the Debian packages (see README, "Packages").
#
#   make install [DESTDIR=DIR] [PREFIX=/usr/local]
#                   build, then install the stack (packaging/install.sh)
#   make deb        build the packaged programs in build/deb/tree with
#                   Debian's hardening flags, make the packages in build/deb
#                   (packaging/build-debs.sh) and run lintian on them
#   make deb-check  install them in a fresh Debian 12 root made by
#                   mmdebstrap and run them there (network, minutes)
PREFIX ?= /usr/local
DEB_OUT := build/deb
DEB_TREE := $(DEB_OUT)/tree
# the simulated box is a development stand-in, not part of the appliance
DEB_NOT_PACKAGED = $(BIN)/tb-simd $(LIBEXEC)/tb-sim $(LIBEXEC)/tb-emu $(LIBEXEC)/tb-fanbench \
                   $(LIB)/libtbsim-preload.so
DEB_LIBS = $(LIB)/libtbdrv.a $(LIB)/libtbhal.a $(LIB)/libtbstore.a $(LIB)/libtbinfer.a
# what the packages hold, as built under $(DEB_TREE)
deb_targets = $(patsubst $(BUILD)/%,$(DEB_TREE)/%,$(filter-out $(DEB_NOT_PACKAGED),$(PROGS)) $(DEB_LIBS) \
                                $(filter %.co,$(LIBS)))
# dpkg-buildflags' hardening (with bind-now) for the packaged build, and
# --as-needed: a program records only the libraries it uses.  make does not
# see a change of flags, so a tree built with other flags is built again.
DEB_FLAGS = DEB_BUILD_MAINT_OPTIONS=hardening=+all DEB_LDFLAGS_MAINT_APPEND=-Wl,--as-needed; \
            export DEB_BUILD_MAINT_OPTIONS DEB_LDFLAGS_MAINT_APPEND; \
            CFLAGS="$$(dpkg-buildflags --get CFLAGS) $$(dpkg-buildflags --get CPPFLAGS)"; \
            LDFLAGS="$$(dpkg-buildflags --get LDFLAGS)"; export CFLAGS LDFLAGS; \
            printf '%s\n' "$$CFLAGS" "$$LDFLAGS" | cmp -s - $(DEB_TREE)/flags || \
              { rm -rf $(DEB_TREE) && mkdir -p $(DEB_TREE) && printf '%s\n' "$$CFLAGS" "$$LDFLAGS" >$(DEB_TREE)/flags; }

.PHONY: install deb deb-check
install: all
	@sh packaging/install.sh --build $(BUILD) --destdir "$(or $(DESTDIR),/)" --prefix $(PREFIX)

deb:
	@$(DEB_FLAGS); $(MAKE) --no-print-directory BUILD=$(DEB_TREE) $(deb_targets)
	@echo "  DEB   $(DEB_OUT)"
	@sh packaging/build-debs.sh --tree $(DEB_TREE) --out $(DEB_OUT)
	@echo "  LINT  $(DEB_OUT)/*.changes"
	@lintian --fail-on error,warning $(DEB_OUT)/*.changes

deb-check: deb
	@sh packaging/check-install.sh $(DEB_OUT)
