/* Hashing on several cores: xxh3 runs at one core's speed, which a RAID0 of
 * NVMe drives outruns, so verification would cap the load.  A hasher owns
 * threads-1 helper threads; tbs_hasher_run hands out a slot's chunks one by
 * one (an atomic counter) to the helpers and to the caller, and returns when
 * every chunk is hashed.  Meanwhile the drives keep filling the slots queued
 * ahead, so hashing overlaps the reads. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "storage/internal.h"

#define MAX_HASH_THREADS 64u
#define AUTO_HASH_THREADS 8u    /* a 16 MiB slot has 16 chunks of 1 MiB to share */

struct tbs_hasher {
	unsigned threads;       /* the caller and threads-1 helpers */
	pthread_t *helpers;
	pthread_mutex_t lock;
	pthread_cond_t go, finished;
	unsigned long job;      /* counts jobs: a helper waits for the next one */
	bool stop;
	/* the current job */
	const uint8_t *data;
	size_t len, chunk, pieces;
	uint64_t *sums;
	atomic_size_t next;     /* the next piece to take */
	size_t done;            /* pieces hashed (under lock) */
	unsigned active;        /* helpers inside the job: the next waits for them */
};

/* Takes pieces until none is left; returns how many it hashed. */
static size_t take_pieces(struct tbs_hasher *h)
{
	size_t n = 0;
	for (size_t i; (i = atomic_fetch_add(&h->next, 1)) < h->pieces; n++) {
		size_t at = i * h->chunk;
		h->sums[i] = tbs_chunk_sum(h->data + at, h->len - at < h->chunk ? h->len - at : h->chunk);
	}
	return n;
}


static void *helper(void *arg)
{
	struct tbs_hasher *h = arg;
	unsigned long seen = 0;
	pthread_mutex_lock(&h->lock);
	for (;;) {
		while (h->job == seen && !h->stop)
			pthread_cond_wait(&h->go, &h->lock);
		if (h->stop)
			break;
		seen = h->job;
		h->active++;
		pthread_mutex_unlock(&h->lock);
		size_t n = take_pieces(h);
		pthread_mutex_lock(&h->lock);
		h->done += n;
		h->active--;
		pthread_cond_broadcast(&h->finished);
	}
	pthread_mutex_unlock(&h->lock);
	return NULL;
}

unsigned tbs_hash_threads(unsigned asked)
{
	if (asked)
		return asked < MAX_HASH_THREADS ? asked : MAX_HASH_THREADS;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	return cpus < 1 ? 1 : cpus < AUTO_HASH_THREADS ? (unsigned)cpus : AUTO_HASH_THREADS;
}

void tbs_hasher_stop(struct tbs_hasher *h)
{
	if (!h)
		return;
	pthread_mutex_lock(&h->lock);
	h->stop = true;
	pthread_cond_broadcast(&h->go);
	pthread_mutex_unlock(&h->lock);
	for (unsigned i = 0; i + 1 < h->threads; i++)
		pthread_join(h->helpers[i], NULL);
	pthread_cond_destroy(&h->go);
	pthread_cond_destroy(&h->finished);
	pthread_mutex_destroy(&h->lock);
	free(h->helpers);
	free(h);
}

int tbs_hasher_start(struct tbs_hasher **out, unsigned threads, struct tbs_error *err)
{
	struct tbs_hasher *h = calloc(1, sizeof *h);
	threads = tbs_hash_threads(threads);
	if (!h || !(h->helpers = calloc(threads, sizeof *h->helpers))) {
		free(h);
		return tbs_fail(err, -ENOMEM, "out of memory for %u hashing threads", threads);
	}
	pthread_mutex_init(&h->lock, NULL);
	pthread_cond_init(&h->go, NULL);
	pthread_cond_init(&h->finished, NULL);
	h->threads = 1;
	for (; h->threads < threads; h->threads++) {
		int rc = pthread_create(&h->helpers[h->threads - 1], NULL, helper, h);
		if (rc) {
			tbs_hasher_stop(h);
			return tbs_fail(err, -rc, "cannot start a hashing thread: %s", strerror(rc));
		}
	}
	*out = h;
	return 0;
}

void tbs_hasher_run(struct tbs_hasher *h, const uint8_t *data, size_t len, size_t chunk, uint64_t *sums)
{
	size_t pieces = (len + chunk - 1) / chunk;
	if (h->threads == 1 || pieces < 2) {
		for (size_t i = 0, at = 0; i < pieces; i++, at += chunk)
			sums[i] = tbs_chunk_sum(data + at, len - at < chunk ? len - at : chunk);
		return;
	}
	pthread_mutex_lock(&h->lock);
	h->data = data;
	h->len = len;
	h->chunk = chunk;
	h->pieces = pieces;
	h->sums = sums;
	h->done = 0;
	atomic_store(&h->next, 0);
	h->job++;
	pthread_cond_broadcast(&h->go);
	pthread_mutex_unlock(&h->lock);
	size_t n = take_pieces(h);
	pthread_mutex_lock(&h->lock);
	h->done += n;
	while (h->done < h->pieces || h->active)
		pthread_cond_wait(&h->finished, &h->lock);
	pthread_mutex_unlock(&h->lock);
}
