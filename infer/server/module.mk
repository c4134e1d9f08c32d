# infer/server/: tb-inferd, the OpenAI-compatible server over libtbinfer
# (libmicrohttpd with GnuTLS, jansson, libsystemd), and tb serve, the same
# program run in the foreground by the tb front end.
INFERD_SRCS := infer/server/main.c infer/server/http.c infer/server/gen.c infer/server/request.c \
               infer/server/config.c infer/server/keys.c
LIBS_INFERD := $(call pc,libmicrohttpd gnutls) $(LIBS_SYSTEMD)
PROGS += $(BIN)/tb-inferd $(LIBEXEC)/tb-serve
$(BIN)/tb-inferd $(LIBEXEC)/tb-serve: $(call objs,$(INFERD_SRCS)) $(INFER_ARCHIVES) | $(BUILD)/share/tb/infer.co
	$(link) $(LIBS_INFERD) $(INFER_LINK)
BENCHES += infer/server/bench.sh
