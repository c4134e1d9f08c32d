/* KFD's SMI event interface (AMDKFD_IOC_SMI_EVENTS, kfd_smi_events.c): a
 * process asks for an event file of one GPU, writes a 64-bit mask of the
 * events it wants to it, and reads lines "EVENT PAYLOAD\n" (the event's
 * number in hex, then the payload in the format the uapi header gives
 * for it).  A read with nothing queued fails with EAGAIN; poll says when
 * lines wait.  Each file queues at most a kfifo's worth (KFD's
 * MAX_KFIFO_SIZE); an event that does not fit is dropped, as KFD drops it.
 *
 * The file handed to the process is one end of a socket pair: its reads
 * and polls are the kernel's own.  The box keeps the other end, takes the
 * masks the process wrote from it before it delivers each event, and
 * forgets the file once the process closed its end. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sim/kmd/kfd_priv.h"

/* kfd_smi_events.c */
#define MAX_KFIFO_SIZE 1024

struct smi_client {
	int sock;			/* the box's end */
	const struct sim_gpu *g;
	pid_t pid;
	bool suser;			/* may see every process's events */
	uint64_t events;		/* the mask last written */
	uint8_t partial[8];		/* a mask written in pieces */
	int npartial;
	struct smi_client *next;
};

static pthread_mutex_t smi_lock = PTHREAD_MUTEX_INITIALIZER;
static struct smi_client *smi_clients;

long kfd_smi_open(const struct conn *c, const struct sim_gpu *g, int *client_fd)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	/* the kernel's file answers a read with nothing queued with EAGAIN */
	int size = MAX_KFIFO_SIZE;
	if (fcntl(sv[1], F_SETFL, O_NONBLOCK) < 0 || fcntl(sv[0], F_SETFL, O_NONBLOCK) < 0 ||
	    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &size, sizeof size) < 0) {
		int e = -errno;
		close(sv[0]);
		close(sv[1]);
		return e;
	}
	struct smi_client *s = calloc(1, sizeof *s);
	if (!s) {
		close(sv[0]);
		close(sv[1]);
		return -ENOMEM;
	}
	s->sock = sv[0];
	s->g = g;
	s->pid = c->pid;
	s->suser = c->uid == 0;
	pthread_mutex_lock(&smi_lock);
	s->next = smi_clients;
	smi_clients = s;
	pthread_mutex_unlock(&smi_lock);
	*client_fd = sv[1];
	return 0;
}

/* Take what the process wrote: whole 64-bit masks, the last one counts.
 * Returns false once the process closed its end. */
static bool take_masks(struct smi_client *s)
{
	for (;;) {
		ssize_t n = recv(s->sock, s->partial + s->npartial, sizeof s->partial - (size_t)s->npartial, MSG_DONTWAIT);
		if (n == 0)
			return false;
		if (n < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
		s->npartial += (int)n;
		if (s->npartial == (int)sizeof s->partial) {
			memcpy(&s->events, s->partial, sizeof s->events);
			s->npartial = 0;
		}
	}
}

/* kfd_smi_ev_enabled: the client asked for the event, and for another
 * process's events only with KFD_SMI_EVENT_ALL_PROCESS and privilege */
static bool wants(const struct smi_client *s, pid_t pid, unsigned event)
{
	if (!(s->events & KFD_SMI_EVENT_MASK_FROM_INDEX(event)))
		return false;
	if (pid == 0 || pid == s->pid)
		return true;
	return s->suser && (s->events & KFD_SMI_EVENT_MASK_FROM_INDEX(KFD_SMI_EVENT_ALL_PROCESS));
}

void kfd_smi_event(const struct sim_gpu *g, pid_t pid, unsigned event, const char *fmt, ...)
{
	char line[KFD_SMI_EVENT_MSG_SIZE];
	int n = snprintf(line, sizeof line, "%x ", event);
	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
	va_end(ap);
	size_t len = m < 0 ? (size_t)n : (size_t)n + (size_t)m;
	if (len >= sizeof line)
		len = sizeof line - 1;
	pthread_mutex_lock(&smi_lock);
	for (struct smi_client **pp = &smi_clients; *pp;) {
		struct smi_client *s = *pp;
		bool alive = take_masks(s);
		if (alive && s->g == g && wants(s, pid, event)) {
			ssize_t w = send(s->sock, line, len, MSG_DONTWAIT | MSG_NOSIGNAL);
			if (w < 0 && errno == EPIPE)
				alive = false;
			else if (w != (ssize_t)len)
				klog("kfd kfd: amdgpu: smi_event(%x): no space left", event);
		}
		if (!alive) {
			*pp = s->next;
			close(s->sock);
			free(s);
			continue;
		}
		pp = &s->next;
	}
	pthread_mutex_unlock(&smi_lock);
}
