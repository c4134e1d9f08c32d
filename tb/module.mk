# tb: the git-style front end that dispatches to $(LIBEXEC)/tb-NAME
PROGS += $(BIN)/tb
$(BIN)/tb: $(call objs,tb/tb.c)
	$(link)

# tb --version: the source's git description, rewritten only when it changes
TB_VERSION_H := $(OBJ)/tb/tb_version.h
$(TB_VERSION_H): tb-version-check
	@mkdir -p $(@D)
	@v=$$(git describe --always --dirty 2>/dev/null || echo unknown); \
	 printf '#define TB_VERSION "%s"\n' "$$v" >$@.new; \
	 if cmp -s $@.new $@; then rm -f $@.new; else mv $@.new $@; fi
.PHONY: tb-version-check
$(OBJ)/tb/tb.o: $(TB_VERSION_H)
$(OBJ)/tb/tb.o: CFLAGS += -I$(OBJ)/tb
