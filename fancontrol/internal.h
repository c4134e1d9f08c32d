/* libtbfan internals shared by its files.  Private to fancontrol/. */
#ifndef TB_FANCONTROL_INTERNAL_H
#define TB_FANCONTROL_INTERNAL_H

#include <stddef.h>
#include <stdio.h>

#include "util/tbutil.h"

/* Strip leading blanks and trailing blanks and line ends, in place. */
char *fc_trim(char *s);


#endif
