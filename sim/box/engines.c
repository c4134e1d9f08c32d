/* The box's running parts: the periodic refresh of the GPUs' files and
 * the thermal plant, ten times a second of real time. */
#include <pthread.h>
#include <unistd.h>

#include "sim/box/box.h"
#include "sim/kmd/kmd.h"
#include "sim/box/sensors.h"
#include "sim/box/drives.h"

static void *refresh_main(void *arg)
{
	struct sim_box *b = arg;
	uint64_t last = box_now_ns();
	for (int tick = 0; !atomic_load(&b->stopping); tick++) {
		usleep(100 * 1000);
		uint64_t now = box_now_ns();
		sensors_tick(b, (double)(now - last) / 1e9);
		last = now;
		if (tick % 5 == 0) {
			for (int i = 0; i < b->ngpus; i++)
				sysfs_update_gpu(b, &b->gpu[i]);
			kfd_reap();	/* processes that exited */
			drives_tick(b);
		}
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
