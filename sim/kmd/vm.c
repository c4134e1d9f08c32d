/* A process's GPU virtual memory on one GPU: what the GPU's page tables
 * would hold.  The engines translate through it (vm_lookup is their
 * isa_memory); the ioctls change it. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sim/kmd/kfd_priv.h"

/* Index of the first mapping ending after va. */
static size_t find(const struct vm *vm, uint64_t va)
{
	size_t lo = 0, hi = vm->n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (vm->m[mid].va + vm->m[mid].size <= va)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

bool vm_overlaps(struct vm *vm, uint64_t va, uint64_t size)
{
	pthread_rwlock_rdlock(&vm->lock);
	size_t i = find(vm, va);
	bool hit = i < vm->n && vm->m[i].va < va + size;
	pthread_rwlock_unlock(&vm->lock);
	return hit;
}

int vm_insert(struct vm *vm, struct bo *bo)
{
	int rc = 0;
	pthread_rwlock_wrlock(&vm->lock);
	size_t i = find(vm, bo->va);
	if (i < vm->n && vm->m[i].va < bo->va + bo->size) {
		rc = vm->m[i].bo == bo ? 0 : -EINVAL;
		goto out;
	}
	if (vm->n == vm->cap) {
		size_t cap = vm->cap ? vm->cap * 2 : 16;
		struct vm_map *m = realloc(vm->m, cap * sizeof *m);
		if (!m) {
			rc = -ENOMEM;
			goto out;
		}
		vm->m = m;
		vm->cap = cap;
	}
	memmove(&vm->m[i + 1], &vm->m[i], (vm->n - i) * sizeof *vm->m);
	vm->m[i] = (struct vm_map){ bo->va, bo->size, bo->host, (bo->flags & KFD_ALLOC_WRITABLE) != 0, bo };
	vm->n++;
out:
	pthread_rwlock_unlock(&vm->lock);
	return rc;
}

int vm_remove(struct vm *vm, const struct bo *bo)
{
	int rc = -ENOENT;
	pthread_rwlock_wrlock(&vm->lock);
	size_t i = find(vm, bo->va);
	if (i < vm->n && vm->m[i].bo == bo) {
		memmove(&vm->m[i], &vm->m[i + 1], (vm->n - i - 1) * sizeof *vm->m);
		vm->n--;
		rc = 0;
	}
	pthread_rwlock_unlock(&vm->lock);
	return rc;
}

int vm_lookup(void *ctx, uint64_t va, struct isa_mapping *out)
{
	struct vm *vm = ctx;
	int rc = -EFAULT;
	pthread_rwlock_rdlock(&vm->lock);
	size_t i = find(vm, va);
	if (i < vm->n && vm->m[i].va <= va) {
		const struct vm_map *m = &vm->m[i];
		*out = (struct isa_mapping){ m->va, m->size, m->host, m->writable };
		rc = 0;
	}
	pthread_rwlock_unlock(&vm->lock);
	return rc;
}
