/* The simulated box's wire protocol: between the daemon (tb-simd), the
 * preloaded library that stands in for device files in client processes,
 * and the tb sim command.  Unix SOCK_SEQPACKET connections to STATE/simd.sock:
 * one message per packet, file descriptors passed with SCM_RIGHTS.
 *
 * Each connection starts with HELLO saying what it is: a device file opened
 * by a process (/dev/kfd, a render node...), or a control connection.  A
 * device connection lives as long as the process's file descriptor, so the
 * daemon releases the file's resources when the socket closes, as the
 * kernel does on the file's last close. */
#ifndef TB_SIM_PROTO_H
#define TB_SIM_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define SIM_SOCKET_NAME "simd.sock"
#define SIM_PROTO_VERSION 2
#define SIM_MSG_MAX (64 * 1024)

enum sim_msg_type {
	SIM_HELLO = 1,		/* struct sim_hello -> struct sim_reply */
	SIM_IOCTL,		/* struct sim_ioctl + arg bytes -> struct sim_reply + arg bytes */
	SIM_MMAP,		/* struct sim_mmap -> struct sim_mmap_reply (+ fd) */
	SIM_CONTROL,		/* struct sim_control -> struct sim_reply + text */
	SIM_REPLY,
	SIM_WRITE,		/* struct sim_write + bytes -> struct sim_reply (value: bytes taken) */
	SIM_MUNMAP,		/* struct sim_mmap (offset: the address) -> struct sim_reply: the
				   process's pages there went away (the MMU notifier) */
};

struct sim_hdr {
	uint32_t type;
	uint32_t len;		/* bytes after the header */
};

/* ATTR: a sysfs attribute a process opened for writing.  Each packet is a
 * write(): a struct sim_write from the preloaded library's write(), or the
 * bare bytes when the program wrote past it (stdio inside libc); every one
 * is answered, and bare writes' answers are simply never read. */
enum sim_conn_kind { SIM_CONN_DEVICE = 1, SIM_CONN_CONTROL = 2, SIM_CONN_ATTR = 3 };

struct sim_hello {
	struct sim_hdr h;
	uint32_t version;
	uint32_t kind;		/* enum sim_conn_kind */
	int32_t flags;		/* open() flags */
	char path[256];		/* device path, e.g. "/dev/kfd"; ATTR: the file's canonical /sys path */
};

struct sim_reply {
	struct sim_hdr h;
	uint32_t tag;		/* the request's tag */
	int32_t err;		/* 0 or a negative errno */
	uint32_t copy_out;	/* bytes of argument that follow and must be copied back */
	uint32_t pad;
	uint64_t value;		/* ioctl return value on success; HELLO: connection id */
};

/* An ioctl: the argument struct travels with it (its size from _IOC_SIZE);
 * pointers inside it are read and written by the daemon directly in the
 * process's memory, like the kernel's copy_from_user/copy_to_user. */
struct sim_ioctl {
	struct sim_hdr h;
	uint32_t tag;		/* replies carry it: several threads may wait at once */
	uint32_t size;		/* argument bytes that follow */
	uint64_t request;
	uint64_t arg;		/* the user pointer, for messages and EFAULT */
	uint64_t fd_offset;	/* with a passed file (userptr memory): its offset */
};

struct sim_write {
	struct sim_hdr h;
	uint32_t tag;
	uint32_t len;		/* bytes that follow */
};

struct sim_mmap {
	struct sim_hdr h;
	uint32_t tag;
	uint32_t pad;
	uint64_t offset;	/* the mmap offset the process passed */
	uint64_t length;
	int32_t prot;
	int32_t flags;
};

struct sim_mmap_reply {
	struct sim_hdr h;
	uint32_t tag;
	int32_t err;
	uint64_t file_offset;	/* where in the passed file to map */
};

enum sim_control_op {
	SIM_CTL_STATUS = 1,	/* text: JSON status */
	SIM_CTL_STOP,
	SIM_CTL_FAULT,		/* arg: "GPU KIND [ARGS]" or "clear [GPU]" */
	SIM_CTL_PING,
};

struct sim_control {
	struct sim_hdr h;
	uint32_t op;
	uint32_t pad;
	char arg[256];
};

/* Send a message with optional file descriptor; receive one (with up to one
 * descriptor, -1 if none).  Return 0 or a negative errno (-EPIPE when the
 * peer is gone, -EPROTO for a malformed message). */
int sim_send(int sock, const void *msg, size_t len, int fd);
int sim_recv(int sock, void *buf, size_t cap, size_t *len, int *fd);

/* Connect to the daemon of the box in state directory dir. */
int sim_connect(const char *dir);

#endif
