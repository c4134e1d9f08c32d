/* Signals: a 64-bit timeline value in host memory written by the queues,
 * and a KFD signal event so that waiting sleeps.  A wait spins briefly
 * (work that is almost done costs no system call), then sleeps on the
 * event and the process's exception events in short slices, rechecking
 * the value each time: an interrupt that raced with the check is never
 * waited for twice. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "driver/internal.h"

enum { SPIN_NS = 50 * 1000, SLICE_MS = 100 };

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The process's event page: the events' mailboxes, which the GPUs write
 * before raising an interrupt.  KFD takes it from the first event created
 * with it; it must be mapped on every GPU that signals. */
static int event_page(struct tb_gpu *g, struct tb_process *p)
{
	if (p->event_page)
		return 0;
	struct tb_bo *page;
	int rc = tb_bo_alloc(g, TB_EVENT_SLOTS * 8, TB_MEM_HOST, &page);
	if (rc < 0)
		return rc;
	for (int i = 0; i < 64; i++)
		if (p->gpus[i] && p->gpus[i] != g && (rc = tb_bo_map_to(page, p->gpus[i])) < 0) {
			tb_bo_free(page);
			return rc;
		}
	p->event_page = page;
	return 0;
}

int tb_signal_create(struct tb_gpu *g, uint64_t initial, struct tb_signal **out)
{
	struct tb_signal *s = calloc(1, sizeof *s);
	if (!s)
		return -ENOMEM;
	struct tb_process *p = g->proc;
	pthread_mutex_lock(&p->lock);
	bool first = p->event_page == NULL;
	int rc = event_page(g, p);
	struct kfd_ioctl_create_event_args a = { .event_type = KFD_IOC_EVENT_SIGNAL, .auto_reset = 1 };
	if (rc == 0) {
		if (first)
			a.event_page_offset = p->event_page->handle;
		rc = tb_kfd_ioctl(p->kfd, AMDKFD_IOC_CREATE_EVENT, &a);
	}
	if (rc == 0 && a.event_slot_index >= TB_EVENT_SLOTS)
		rc = -ENOSPC;
	pthread_mutex_unlock(&p->lock);
	if (rc == 0)
		rc = tb_bo_alloc(g, 4096, TB_MEM_HOST, &s->bo);
	if (rc < 0) {
		if (a.event_id) {
			struct kfd_ioctl_destroy_event_args d = { .event_id = a.event_id };
			tb_kfd_ioctl(p->kfd, AMDKFD_IOC_DESTROY_EVENT, &d);
		}
		free(s);
		return rc;
	}
	s->gpu = g;
	s->event_id = a.event_id;
	s->mailbox_va = p->event_page->va + (uint64_t)a.event_slot_index * 8;
	s->value = s->bo->cpu;
	*s->value = initial;
	*out = s;
	return 0;
}

int tb_signal_map(struct tb_signal *s, struct tb_gpu *peer)
{
	return tb_bo_map(s->bo, peer);
}

void tb_signal_destroy(struct tb_signal *s)
{
	if (!s)
		return;
	struct kfd_ioctl_destroy_event_args d = { .event_id = s->event_id };
	tb_kfd_ioctl(s->gpu->proc->kfd, AMDKFD_IOC_DESTROY_EVENT, &d);
	tb_bo_free(s->bo);
	free(s);
}

uint64_t tb_signal_value(const struct tb_signal *s)
{
	return __atomic_load_n(s->value, __ATOMIC_ACQUIRE);
}

void tb_signal_set(struct tb_signal *s, uint64_t value)
{
	__atomic_store_n(s->value, value, __ATOMIC_RELEASE);
}

uint64_t tb_signal_timestamp_ns(const struct tb_signal *s)
{
	uint64_t ticks = __atomic_load_n(&s->value[1], __ATOMIC_ACQUIRE);
	return (uint64_t)((double)ticks * 1e9 / s->gpu->gpu_clock_hz);
}

/* Sleep on the signal's event and the exception events for up to ms. */
static int sleep_on_events(struct tb_signal *s, uint32_t ms)
{
	struct tb_process *p = s->gpu->proc;
	struct kfd_event_data ev[3];
	memset(ev, 0, sizeof ev);
	ev[0].event_id = s->event_id;
	ev[1].event_id = p->memory_event;
	ev[2].event_id = p->hw_event;
	struct kfd_ioctl_wait_events_args w = {
		.events_ptr = (uint64_t)(uintptr_t)ev, .num_events = 3, .wait_for_all = 0, .timeout = ms
	};
	int rc = tb_kfd_ioctl(p->kfd, AMDKFD_IOC_WAIT_EVENTS, &w);
	if (rc < 0)
		return rc;
	if (w.wait_result == KFD_IOC_WAIT_RESULT_COMPLETE && tb_gpu_check_exceptions(s->gpu, ev, 3))
		return -EIO;
	return 0;
}

int tb_signal_wait(struct tb_signal *s, uint64_t target, uint32_t timeout_ms)
{
	uint64_t start = now_ns(), limit = (uint64_t)timeout_ms * 1000000u;
	while (now_ns() - start < SPIN_NS)
		if (tb_signal_value(s) >= target)
			return 0;
	for (;;) {
		if (tb_signal_value(s) >= target)
			return 0;
		if (tb_gpu_failed(s->gpu)) {
			sleep_on_events(s, 0);	/* collect what the kernel has to say, then fail */
			return -EIO;
		}
		/* the caller's patience is not the GPU's health: a hang is what the
		 * queues' own lack of progress says */
		if (tb_gpu_check_hangs(s->gpu))
			continue;
		uint64_t spent = now_ns() - start;
		if (spent >= limit)
			return -ETIMEDOUT;
		uint64_t left_ms = (limit - spent + 999999) / 1000000;
		int rc = sleep_on_events(s, left_ms < SLICE_MS ? (uint32_t)left_ms : SLICE_MS);
		if (rc < 0 && rc != -EIO)
			return rc;
		if (rc == -EIO && tb_signal_value(s) < target)
			return -EIO;
	}
}
