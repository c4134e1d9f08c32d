# tb: the git-style front end that dispatches to $(LIBEXEC)/tb-NAME
PROGS += $(BIN)/tb
$(BIN)/tb: $(call objs,tb/tb.c)
	$(link)
