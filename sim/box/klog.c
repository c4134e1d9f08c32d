/* The simulated kernel's log: what dmesg would show on the real box (GPU
 * resets, faults, evictions).  A ring of recent lines, also appended to
 * STATE/kernel.log, shown by `tb sim status`, and to STATE/dev/kmsg in the
 * records /dev/kmsg gives ("LEVEL,SEQ,USEC,-;TEXT", one a line), which
 * `tb sim run` shows at /dev/kmsg: a reader takes the records there as
 * from the kernel's, until there are no more. */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "sim/box/box.h"

#define KLOG_LINES 64
#define KLOG_LEN 200

static pthread_mutex_t klog_lock = PTHREAD_MUTEX_INITIALIZER;
static char lines[KLOG_LINES][KLOG_LEN];
static unsigned next_line;

/* printk levels (KERN_ERR 3, KERN_WARNING 4, KERN_INFO 6): the driver
 * logs failures as errors */
static int klog_level(const char *text)
{
	static const char *const errors[] = { "fail", "error", "fault", "hang", "timeout", "unrecoverable", "lost" };
	for (size_t i = 0; i < sizeof errors / sizeof errors[0]; i++)
		if (strcasestr(text, errors[i]))
			return 3;
	return 6;
}

void klog(const char *fmt, ...)
{
	char text[KLOG_LEN - 20];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	double t = g_box ? (double)(box_now_ns() - g_box->start_ns) / 1e9 : 0.0;
	pthread_mutex_lock(&klog_lock);
	char *l = lines[next_line++ % KLOG_LINES];
	snprintf(l, KLOG_LEN, "[%10.6f] %s", t, text);
	if (g_box) {
		char path[PATH_MAX];
		snprintf(path, sizeof path, "%s/kernel.log", g_box->state);
		FILE *f = fopen(path, "ae");
		if (f) {
			fprintf(f, "%s\n", l);
			fclose(f);
		}
		snprintf(path, sizeof path, "%s/dev/kmsg", g_box->state);
		if ((f = fopen(path, "ae"))) {
			fprintf(f, "%d,%u,%llu,-;%s\n", klog_level(text), next_line - 1,
				(unsigned long long)((box_now_ns() - g_box->start_ns) / 1000), text);
			fclose(f);
		}
	}
	pthread_mutex_unlock(&klog_lock);
}

/* JSON string contents: quotes, backslashes and control characters escaped. */
static size_t json_escape(char *out, size_t len, const char *s)
{
	size_t n = 0;
	for (; *s && n + 7 < len; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\') {
			out[n++] = '\\';
			out[n++] = (char)ch;
		} else if (ch < 0x20) {
			n += (size_t)snprintf(out + n, len - n, "\\u%04x", ch);
		} else {
			out[n++] = (char)ch;
		}
	}
	out[n] = '\0';
	return n;
}

size_t klog_json(char *out, size_t len)
{
	size_t n = 0;
	if (len < 3)
		return 0;
	out[n++] = '[';
	pthread_mutex_lock(&klog_lock);
	unsigned first = next_line > KLOG_LINES ? next_line - KLOG_LINES : 0;
	for (unsigned i = first; i < next_line && n + KLOG_LEN * 2 < len; i++) {
		if (i > first)
			out[n++] = ',';
		out[n++] = '"';
		n += json_escape(out + n, len - n - 2, lines[i % KLOG_LINES]);
		out[n++] = '"';
	}
	pthread_mutex_unlock(&klog_lock);
	out[n++] = ']';
	out[n] = '\0';
	return n;
}

size_t klog_text(char *out, size_t len)
{
	size_t n = 0;
	out[0] = '\0';
	pthread_mutex_lock(&klog_lock);
	unsigned first = next_line > KLOG_LINES ? next_line - KLOG_LINES : 0;
	for (unsigned i = first; i < next_line && n + KLOG_LEN + 2 < len; i++)
		n += (size_t)snprintf(out + n, len - n, "  %s\n", lines[i % KLOG_LINES]);
	pthread_mutex_unlock(&klog_lock);
	return n;
}
