/* KFD's per-process sysfs, as amdgpu's kfd_process.c publishes it: a
 * directory /sys/class/kfd/kfd/proc/<pid>/ for each process that opened
 * /dev/kfd, holding its pasid, and vram_<gpu_id> and sdma_<gpu_id> for
 * each GPU it has a VM on (the VRAM it holds in bytes, its SDMA activity);
 * the directory goes with the process.  What tools read to tell which
 * processes hold the GPUs. */
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "sim/box/box.h"
#include "sim/kmd/kfd_priv.h"

#define PROC_DIR "class/kfd/kfd/proc"

void kfd_procfs_add(pid_t pid)
{
	char rel[64];
	snprintf(rel, sizeof rel, PROC_DIR "/%d", (int)pid);
	/* the box uses the pid as the process's PASID (its page-fault messages say so) */
	sysfs_write(g_box, rel, "pasid", "%d\n", (int)pid);
}

void kfd_procfs_add_gpu(pid_t pid, const struct sim_gpu *g)
{
	char rel[64], name[32];
	snprintf(rel, sizeof rel, PROC_DIR "/%d", (int)pid);
	snprintf(name, sizeof name, "vram_%u", g->gpu_id);
	sysfs_write(g_box, rel, name, "0\n");
	snprintf(name, sizeof name, "sdma_%u", g->gpu_id);
	sysfs_write(g_box, rel, name, "0\n");
}

void kfd_procfs_remove(pid_t pid)
{
	char dir[PATH_MAX + 64];
	snprintf(dir, sizeof dir, "%s/sys/" PROC_DIR "/%d", g_box->state, (int)pid);
	DIR *d = opendir(dir);
	if (!d)
		return;
	for (struct dirent *e; (e = readdir(d));)
		if (e->d_name[0] != '.') {
			char path[PATH_MAX + 400];
			snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
			unlink(path);
		}
	closedir(d);
	rmdir(dir);
}
