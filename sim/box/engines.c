/* The box's running parts: the periodic sysfs refresh (and later the
 * engines and the thermal plant). */
#include <pthread.h>
#include <unistd.h>

#include "sim/box/box.h"

static void *refresh_main(void *arg)
{
	struct sim_box *b = arg;
	while (!atomic_load(&b->stopping)) {
		for (int i = 0; i < b->ngpus; i++)
			sysfs_update_gpu(b, &b->gpu[i]);
		usleep(500 * 1000);
	}
	return NULL;
}

void box_start_engines(struct sim_box *b);
void box_start_engines(struct sim_box *b)
{
	pthread_t t;
	if (pthread_create(&t, NULL, refresh_main, b) == 0)
		pthread_detach(t);
}
