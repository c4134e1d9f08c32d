/* tb sim fault: faults injected into the box. */
#include <errno.h>
#include <stdio.h>

#include "sim/box/box.h"

int box_fault(struct sim_box *b, const char *arg, char *msg, size_t len);
int box_fault(struct sim_box *b, const char *arg, char *msg, size_t len)
{
	(void)b;
	snprintf(msg, len, "unknown fault '%s'", arg);
	return -EINVAL;
}
