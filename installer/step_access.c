/* Access: the owner's account and SSH, with no factory key and no password
 * over the network.
 *
 *  - the owner's login (useradd when missing), in the render and video
 *    groups the GPUs' device files belong to;
 *  - SSH public keys from authorized_keys files on a USB stick or the
 *    install medium (globs on the running system), or pasted on the console
 *    when standard input is a terminal, each line checked by ssh-keygen -l
 *    (a line that is not a public key is refused with its FILE:LINE) and
 *    added to ~owner/.ssh/authorized_keys unless it is there already;
 *  - the SSH host keys made anew once per machine (cloud-init's ssh module:
 *    the image's keys removed, ssh-keygen -A), so no two boxes share one;
 *  - once a key is installed, sshd takes keys only (PasswordAuthentication
 *    no, in a drop-in of sshd_config.d). */
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "installer/accounts.h"
#include "installer/setup.h"

#define SECTION "access"
#define SSHD_CONFIG "/etc/ssh/sshd_config"
#define SSHD_DROPIN "/etc/ssh/sshd_config.d/tb-setup.conf"
#define SSHD_INCLUDE "include /etc/ssh/sshd_config.d/*.conf"
#define HOSTKEYS_MARK "/var/lib/tb-setup/ssh-host-keys"
#define MAX_SOURCES 16
#define MAX_KEYS 64
#define KEYS_FILE_MAX (64 * 1024)
#define KEY_LINE_MAX 8192	/* an RSA 16384-bit key with options fits */
#define FINGERPRINT_MAX 160
#define TOOL_OUT_MAX 4096
#define CONSOLE_TRIES 3

static const struct setup_key access_keys[] = {
	{ "owner", "tb",
	  "the owner's login: made when missing (useradd), in the render and video groups; the SSH keys are its" },
	{ "ssh_keys", "/media/*/tb/authorized_keys /media/*/*/tb/authorized_keys /cdrom/tb/authorized_keys "
		      "/run/live/medium/tb/authorized_keys",
	  "authorized_keys files to install from, space-separated globs on the running system (a USB stick, the "
	  "install medium)" },
	{ "ssh_console", "yes",
	  "with no key found, ask for one on the console (only when standard input is a terminal)" },
	{ NULL },
};

/* The key types ssh-keygen -A makes (OpenSSH 9). */
static const char *const host_key_types[] = { "rsa", "ecdsa", "ed25519" };
#define NHOSTKEYS (sizeof host_key_types / sizeof host_key_types[0])

static const char sshd_dropin[] =
	"# Written by tb setup once the owner has an SSH key: keys only, no passwords.\n"
	"PasswordAuthentication no\n"
	"KbdInteractiveAuthentication no\n"
	"PermitRootLogin prohibit-password\n";

struct key {
	char *line;
	char fingerprint[FINGERPRINT_MAX];
};

struct access {
	char owner[ACCOUNT_NAME_MAX + 1];
	struct account acc;
	bool create_owner, add_groups;
	char authorized[PATH_MAX];	/* ~owner/.ssh/authorized_keys, under the root */
	char ssh_dir[PATH_MAX];
	char *have;			/* its content now */
	size_t have_len;
	struct key add[MAX_KEYS];	/* keys to add */
	size_t nadd;
	size_t nhave;			/* valid keys it has */
	bool write_keys, fix_perms, ask_console;
	bool regen_host_keys, make_host_keys;
	char machine_id[64];
	int dropin;			/* +1 write, -1 remove, 0 as it is */
	bool systemd;
};

/* ---- keys ---- */

/* ssh-keygen's fingerprint of one line ("256 SHA256:... comment (ED25519)"),
 * from a private temporary file: 0, or -EINVAL when it is no public key. */
static int fingerprint(struct setup *s, const char *line, char *out, size_t cap)
{
	char tmp[] = "/tmp/tb-setup-key.XXXXXX";
	int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return -errno;
	size_t n = strlen(line);
	bool written = write(fd, line, n) == (ssize_t)n && write(fd, "\n", 1) == 1;
	close(fd);
	char buf[TOOL_OUT_MAX];
	const char *const a[] = { "ssh-keygen", "-l", "-f", tmp, NULL };
	int rc = written ? setup_capture(s, a, buf, sizeof buf) : -EIO;
	unlink(tmp);
	if (rc != 0)
		return rc < 0 && rc != -EFBIG ? rc : -EINVAL;
	/* one key, one line */
	size_t first = strcspn(buf, "\n");
	if (!first || (buf[first] == '\n' && buf[first + 1]))
		return -EINVAL;
	snprintf(out, cap, "%.*s", (int)first, buf);
	return 0;
}

/* The "SHA256:..." part, which names the key whatever its comment. */
static const char *key_id(const char *fp, size_t *len)
{
	const char *p = strchr(fp, ' ');
	p = p ? p + 1 : fp;
	*len = strcspn(p, " ");
	return p;
}

static bool same_key(const char *a, const char *b)
{
	size_t la, lb;
	const char *ia = key_id(a, &la), *ib = key_id(b, &lb);
	return la == lb && !memcmp(ia, ib, la);
}

static bool blank_or_comment(const char *line)
{
	line += strspn(line, " \t\r");
	return !line[0] || line[0] == '#';
}

static bool key_known(const struct access *a, const char *fp, const char *const *have_fps, size_t nhave)
{
	for (size_t i = 0; i < nhave; i++)
		if (same_key(have_fps[i], fp))
			return true;
	for (size_t i = 0; i < a->nadd; i++)
		if (same_key(a->add[i].fingerprint, fp))
			return true;
	return false;
}

static int add_key(struct step_run *r, struct access *a, const char *line, const char *fp, const char *where)
{
	if (a->nadd == MAX_KEYS)
		return step_fail(r, SETUP_FAILED, "%s: more than %d SSH keys to install", where, MAX_KEYS);
	struct key *k = &a->add[a->nadd];
	if (!(k->line = strdup(line)))
		return step_fail(r, SETUP_FAILED, "out of memory");
	snprintf(k->fingerprint, sizeof k->fingerprint, "%s", fp);
	a->nadd++;
	return SETUP_OK;
}

/* Every line of one source file: a public key, a comment or blank. */
static int read_source(struct setup *s, struct step_run *r, struct access *a, const char *path,
		       const char *const *have_fps, size_t nhave)
{
	char *text;
	size_t len;
	int rc = host_file_read(path, KEYS_FILE_MAX, &text, &len);
	if (rc < 0)
		return step_fail(r, SETUP_FAILED, "%s: %s", path,
				 rc == -EINVAL ? "not a regular text file" : rc == -EFBIG ? "over 64 KiB" : strerror(-rc));
	char *line = malloc(KEY_LINE_MAX);
	if (!line) {
		free(text);
		return step_fail(r, SETUP_FAILED, "out of memory");
	}
	int n = 0;
	bool cut;
	rc = SETUP_OK;
	for (const char *p = text; !rc && next_line(&p, line, KEY_LINE_MAX, &cut);) {
		n++;
		line[strcspn(line, "\r")] = '\0';
		if (!cut && blank_or_comment(line))
			continue;
		char fp[FINGERPRINT_MAX], where[PATH_MAX + 16];
		snprintf(where, sizeof where, "%s:%d", path, n);
		if (cut || strstr(line, "PRIVATE KEY"))
			rc = step_fail(r, SETUP_FAILED, "%s: %s", where,
				       cut ? "a line over 8 KiB: not a public key"
					   : "a private key: only public keys (*.pub lines) belong in authorized_keys");
		else if (fingerprint(s, line, fp, sizeof fp) < 0)
			rc = step_fail(r, SETUP_FAILED, "%s: not an SSH public key (ssh-keygen -l refuses it)", where);
		else if (!key_known(a, fp, have_fps, nhave))
			rc = add_key(r, a, line, fp, where);
	}
	free(line);
	free(text);
	return rc;
}

/* The owner's authorized_keys as it is: its valid keys' fingerprints. */
static int read_authorized(struct setup *s, struct step_run *r, struct access *a, char ***fps)
{
	*fps = calloc(MAX_KEYS, sizeof **fps);
	if (!*fps)
		return step_fail(r, SETUP_FAILED, "out of memory");
	if (!a->authorized[0])
		return SETUP_OK;
	int rc = setup_file_read(s, a->authorized, KEYS_FILE_MAX, &a->have, &a->have_len);
	if (rc == -ENOENT)
		return SETUP_OK;
	if (rc < 0)
		return step_fail(r, SETUP_FAILED, "%s%s: %s", s->root, a->authorized,
				 rc == -EINVAL ? "not a regular text file" : strerror(-rc));
	char *line = malloc(KEY_LINE_MAX);
	if (!line)
		return step_fail(r, SETUP_FAILED, "out of memory");
	int n = 0;
	bool cut;
	for (const char *p = a->have; next_line(&p, line, KEY_LINE_MAX, &cut);) {
		n++;
		char fp[FINGERPRINT_MAX];
		if (!cut && blank_or_comment(line))
			continue;
		if (cut || fingerprint(s, line, fp, sizeof fp) < 0) {
			step_note(r, "%s:%d is not a public key (sshd ignores it; tb setup leaves it)", a->authorized, n);
			continue;
		}
		if (a->nhave < MAX_KEYS && ((*fps)[a->nhave] = strdup(fp)))
			a->nhave++;
	}
	free(line);
	return SETUP_OK;
}

static int check_sources(struct setup *s, struct step_run *r, struct access *a, const char *const *have_fps)
{
	const char *globs = setup_conf_get(s->conf, SECTION, "ssh_keys");
	char *list = strdup(globs), *save;
	if (!list)
		return step_fail(r, SETUP_FAILED, "out of memory");
	int rc = SETUP_OK, files = 0;
	for (char *g = strtok_r(list, " ", &save); !rc && g; g = strtok_r(NULL, " ", &save)) {
		char where[PATH_MAX + 64];
		if (g[0] != '/') {
			rc = step_fail(r, SETUP_FAILED, "%s: ssh_keys '%s' is not an absolute path",
				       setup_conf_where(s->conf, SECTION, "ssh_keys", where, sizeof where), g);
			break;
		}
		glob_t gl;
		if (glob(g, 0, NULL, &gl) != 0)
			continue; /* nothing there: no stick, no medium */
		for (size_t i = 0; !rc && i < gl.gl_pathc; i++) {
			if (++files > MAX_SOURCES) {
				rc = step_fail(r, SETUP_FAILED, "ssh_keys: over %d files match", MAX_SOURCES);
				break;
			}
			size_t before = a->nadd;
			rc = read_source(s, r, a, gl.gl_pathv[i], have_fps, a->nhave);
			if (!rc && a->nadd > before)
				step_action(r, "add %zu SSH key%s from %s to %s", a->nadd - before,
					    a->nadd - before == 1 ? "" : "s", gl.gl_pathv[i], a->authorized);
			step_input(r, "ssh_keys", gl.gl_pathv[i]);
		}
		globfree(&gl);
	}
	free(list);
	return rc;
}

/* ---- the owner ---- */

static int check_owner(struct setup *s, struct step_run *r, struct access *a)
{
	const char *owner = setup_conf_get(s->conf, SECTION, "owner");
	char where[PATH_MAX + 64];
	if (!account_name_valid(owner) || !strcmp(owner, "root"))
		return step_fail(r, SETUP_FAILED, "%s: owner '%s' is not a login useradd takes (and not root)",
				 setup_conf_where(s->conf, SECTION, "owner", where, sizeof where), owner);
	snprintf(a->owner, sizeof a->owner, "%s", owner);
	int rc = account_user(s, owner, &a->acc);
	if (rc == -ENOENT) {
		a->create_owner = true;
		step_action(r, "create the owner's login %s (useradd: home /home/%s, groups render video, no password)",
			    owner, owner);
		snprintf(a->acc.home, sizeof a->acc.home, "/home/%s", owner);
	} else if (rc < 0) {
		return step_fail(r, SETUP_FAILED, "%s/etc/passwd: the line of %s is malformed", s->root, owner);
	} else {
		static const char *const groups[] = { "render", "video" };
		for (size_t i = 0; i < 2 && !a->add_groups; i++) {
			gid_t gid;
			bool member = false;
			a->add_groups = account_group(s, groups[i], owner, &gid, &member) < 0 || !member;
		}
		if (a->add_groups)
			step_action(r, "add %s to the groups render and video (usermod)", owner);
	}
	if ((size_t)snprintf(a->ssh_dir, sizeof a->ssh_dir, "%s/.ssh", a->acc.home) >= sizeof a->ssh_dir ||
	    (size_t)snprintf(a->authorized, sizeof a->authorized, "%s/authorized_keys", a->ssh_dir) >=
		    sizeof a->authorized)
		return step_fail(r, SETUP_FAILED, "%s's home %s is too long", owner, a->acc.home);
	return SETUP_OK;
}

/* ~/.ssh 0700 and authorized_keys 0600, both the owner's (not symlinks: a
 * root process writing there must not be led elsewhere). */
static int check_perms(struct setup *s, struct step_run *r, struct access *a)
{
	char full[PATH_MAX];
	struct stat st;
	const char *const paths[] = { a->ssh_dir, a->authorized };
	const mode_t modes[] = { 0700, 0600 };
	for (size_t i = 0; i < 2 && !a->create_owner; i++) {
		if (setup_path(s, paths[i], full, sizeof full) < 0 || lstat(full, &st) < 0)
			continue;
		if (S_ISLNK(st.st_mode) || (i == 0 ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode)))
			return step_fail(r, SETUP_FAILED, "%s: a symlink or not a %s: tb setup does not write through it",
					 full, i == 0 ? "directory" : "file");
		if ((st.st_mode & 07777) != modes[i] || st.st_uid != a->acc.uid) {
			a->fix_perms = true;
			step_action(r, "chown %s, chmod %04o %s", a->owner, (unsigned)modes[i], paths[i]);
		}
	}
	return SETUP_OK;
}

/* ---- sshd ---- */

/* sshd takes the first value of a keyword: the drop-in decides only when
 * sshd_config includes sshd_config.d before setting PasswordAuthentication
 * itself (Debian's does, on its first lines). */
static int check_sshd_config(struct setup *s, struct step_run *r)
{
	char *text;
	size_t len;
	int rc = setup_file_read(s, SSHD_CONFIG, SETUP_MAX_FILE, &text, &len);
	if (rc < 0)
		return step_fail(r, SETUP_FAILED, "%s%s: %s (is openssh-server installed in the root?)", s->root,
				 SSHD_CONFIG, strerror(-rc));
	char line[1024];
	bool cut, included = false;
	int n = 0;
	rc = SETUP_OK;
	for (const char *p = text; !included && next_line(&p, line, sizeof line, &cut);) {
		n++;
		char *t = line + strspn(line, " \t");
		for (char *c = t; *c; c++)
			*c = (char)(*c >= 'A' && *c <= 'Z' ? *c - 'A' + 'a' : *c);
		if (!strncmp(t, SSHD_INCLUDE, strlen(SSHD_INCLUDE)))
			included = true;
		else if (!strncmp(t, "passwordauthentication", 22))
			break;
	}
	free(text);
	if (!included)
		rc = step_fail(r, SETUP_FAILED,
			       "%s%s:%d: PasswordAuthentication is decided before (or without) 'Include "
			       "/etc/ssh/sshd_config.d/*.conf': put that line first",
			       s->root, SSHD_CONFIG, n);
	return rc;
}

static void machine_id(struct setup *s, char *out, size_t cap)
{
	char *id;
	size_t len;
	snprintf(out, cap, "none");
	if (setup_file_read(s, "/etc/machine-id", 4096, &id, &len) < 0)
		return;
	id[strcspn(id, "\n")] = '\0';
	if (strlen(id) == 32 && strspn(id, "0123456789abcdef") == 32)
		snprintf(out, cap, "%s", id);
	free(id);
}

/* The host keys' fingerprints, for the owner to compare at first connect. */
static void note_host_keys(struct setup *s, struct step_run *r)
{
	char all[1024] = "";
	for (size_t i = 0; i < NHOSTKEYS; i++) {
		char path[128], full[PATH_MAX], out[TOOL_OUT_MAX];
		snprintf(path, sizeof path, "/etc/ssh/ssh_host_%s_key.pub", host_key_types[i]);
		const char *const a[] = { "ssh-keygen", "-l", "-f", full, NULL };
		if (setup_path(s, path, full, sizeof full) < 0 || setup_capture(s, a, out, sizeof out) != 0)
			continue;
		size_t idl;
		const char *id = key_id(out, &idl);
		snprintf(all + strlen(all), sizeof all - strlen(all), "%s%s %.*s", all[0] ? ", " : "",
			 host_key_types[i], (int)idl, id);
	}
	if (all[0])
		step_note(r, "SSH host keys: %s", all);
}

/* Per machine, as cloud-init does per instance: the keys an image carried
 * are replaced by ones made here, once; a mark records for which machine. */
static void check_host_keys(struct setup *s, struct step_run *r, struct access *a)
{
	machine_id(s, a->machine_id, sizeof a->machine_id);
	step_input(r, "machine-id", a->machine_id);
	char *mark = NULL;
	size_t len;
	char want[128];
	snprintf(want, sizeof want, "machine-id %s\n", a->machine_id);
	bool marked = setup_file_read(s, HOSTKEYS_MARK, 4096, &mark, &len) == 0 && !strcmp(mark, want);
	free(mark);
	if (!marked) {
		a->regen_host_keys = true;
		step_action(r, "make new SSH host keys for this machine (machine-id %s), removing any it came with",
			    a->machine_id);
		return;
	}
	for (size_t i = 0; i < NHOSTKEYS && !a->make_host_keys; i++) {
		char path[128], full[PATH_MAX];
		snprintf(path, sizeof path, "/etc/ssh/ssh_host_%s_key", host_key_types[i]);
		a->make_host_keys = setup_path(s, path, full, sizeof full) < 0 || access(full, F_OK) < 0;
	}
	if (a->make_host_keys)
		step_action(r, "make the missing SSH host keys (ssh-keygen -A)");
	note_host_keys(s, r);
}

static int check_dropin(struct setup *s, struct step_run *r, struct access *a)
{
	bool keys = a->nhave + a->nadd > 0 || a->ask_console;
	char full[PATH_MAX];
	if (setup_path(s, SSHD_DROPIN, full, sizeof full) < 0)
		return step_fail(r, SETUP_FAILED, "the root's path is too long");
	if (keys) {
		size_t before = r->nactions;
		if (setup_file_want(s, r, SSHD_DROPIN, sshd_dropin, sizeof sshd_dropin - 1, 0644))
			return SETUP_FAILED;
		a->dropin = r->nactions > before;
	} else if (access(full, F_OK) == 0) {
		/* keys only, with no key, would leave the console as the only way in */
		a->dropin = -1;
		step_action(r, "remove %s: %s has no SSH key, password logins stay on", SSHD_DROPIN, a->owner);
	}
	if (!keys)
		step_note(r, "no SSH key for %s: put an authorized_keys file at one of [access] ssh_keys (e.g. a USB "
			  "stick's tb/authorized_keys) and run tb setup apply; passwords stay on until then", a->owner);
	return SETUP_OK;
}

static int access_check(struct setup *s, struct step_run *r)
{
	struct access *a = calloc(1, sizeof *a);
	if (!a)
		return step_fail(r, SETUP_FAILED, "out of memory");
	r->priv = a;
	a->systemd = s->live && access("/run/systemd/system", F_OK) == 0;
	bool console;
	int rc = setup_conf_bool(s, r, SECTION, "ssh_console", &console);
	if (!rc)
		rc = check_owner(s, r, a);
	if (!rc)
		rc = check_sshd_config(s, r);
	char **fps = NULL;
	if (!rc)
		rc = read_authorized(s, r, a, &fps);
	if (!rc)
		rc = check_sources(s, r, a, (const char *const *)fps);
	for (size_t i = 0; fps && i < a->nhave; i++)
		free(fps[i]);
	free(fps);
	if (rc)
		return rc;
	a->write_keys = a->nadd > 0;
	if (a->nhave + a->nadd == 0 && console && isatty(STDIN_FILENO) && !s->json) {
		a->ask_console = true;
		step_action(r, "ask for %s's SSH public key on the console", a->owner);
	}
	if ((rc = check_perms(s, r, a)) || (rc = check_dropin(s, r, a)))
		return rc;
	check_host_keys(s, r, a);
	return SETUP_OK;
}

/* ---- apply ---- */

static int apply_owner(struct setup *s, struct step_run *r, struct access *a)
{
	const char *root = s->live ? "/" : s->root;
	if (a->create_owner) {
		/* -U its own group, -m its home from /etc/skel; no password: keys, or passwd OWNER at the console */
		const char *const argv[] = { "useradd", "--root", root, "-m", "-U", "-s", "/bin/bash", "-G",
					     "render,video", a->owner, NULL };
		if (setup_exec(s, r, argv) != 0)
			return SETUP_FAILED;
		step_note(r, "%s has no password: log in with an SSH key, or set one at the console (passwd %s)",
			  a->owner, a->owner);
	} else if (a->add_groups) {
		const char *const argv[] = { "usermod", "--root", root, "-a", "-G", "render,video", a->owner, NULL };
		if (setup_exec(s, r, argv) != 0)
			return SETUP_FAILED;
	}
	if (account_user(s, a->owner, &a->acc) < 0)
		return step_fail(r, SETUP_FAILED, "%s is not in %s/etc/passwd after useradd", a->owner, s->root);
	return SETUP_OK;
}

/* One key pasted at the console, checked as a file's line is. */
static int ask_console(struct setup *s, struct step_run *r, struct access *a)
{
	char *line = malloc(KEY_LINE_MAX);
	if (!line)
		return step_fail(r, SETUP_FAILED, "out of memory");
	int rc = SETUP_OK;
	for (int tries = 0; tries < CONSOLE_TRIES; tries++) {
		/* on a line of its own: the runner's progress line may be there */
		fprintf(stderr, "\nPaste %s's SSH public key (one line, e.g. the contents of ~/.ssh/id_ed25519.pub;\n"
				"an empty line skips): ", a->owner);
		fflush(stderr);
		if (!fgets(line, KEY_LINE_MAX, stdin))
			break;
		line[strcspn(line, "\r\n")] = '\0';
		if (blank_or_comment(line))
			break;
		char fp[FINGERPRINT_MAX];
		if (strstr(line, "PRIVATE KEY") || fingerprint(s, line, fp, sizeof fp) < 0) {
			fprintf(stderr, "That is not an SSH public key (ssh-keygen -l refuses it).\n");
			continue;
		}
		rc = add_key(r, a, line, fp, "the console");
		a->write_keys = rc == SETUP_OK;
		break;
	}
	free(line);
	if (!rc && !a->write_keys)
		step_note(r, "no key was pasted: password logins stay on");
	return rc;
}

static int own(struct setup *s, struct step_run *r, const struct access *a, const char *path, mode_t mode)
{
	char full[PATH_MAX];
	if (setup_path(s, path, full, sizeof full) < 0 ||
	    fchownat(AT_FDCWD, full, a->acc.uid, a->acc.gid, AT_SYMLINK_NOFOLLOW) < 0 || chmod(full, mode) < 0)
		return step_fail(r, SETUP_FAILED, "%s: chown %s, chmod %04o: %s", full, a->owner, (unsigned)mode,
				 strerror(errno));
	return SETUP_OK;
}

static int apply_keys(struct setup *s, struct step_run *r, struct access *a)
{
	if (a->write_keys) {
		size_t len = a->have_len + 1;
		for (size_t i = 0; i < a->nadd; i++)
			len += strlen(a->add[i].line) + 1;
		char *text = malloc(len + 1);
		if (!text)
			return step_fail(r, SETUP_FAILED, "out of memory");
		size_t n = a->have_len;
		memcpy(text, a->have ? a->have : "", n);
		if (n && text[n - 1] != '\n')
			text[n++] = '\n';
		for (size_t i = 0; i < a->nadd; i++)
			n += (size_t)sprintf(text + n, "%s\n", a->add[i].line);
		int rc = root_mkdir(s, a->ssh_dir, 0700);
		if (rc < 0) {
			free(text);
			return step_fail(r, SETUP_FAILED, "%s%s: %s", s->root, a->ssh_dir, strerror(-rc));
		}
		rc = setup_file_write(s, r, a->authorized, text, n, 0600);
		free(text);
		if (rc)
			return SETUP_FAILED;
		for (size_t i = 0; i < a->nadd; i++)
			step_note(r, "%s may log in with the key %s", a->owner, a->add[i].fingerprint);
	}
	if ((a->write_keys || a->fix_perms) &&
	    (own(s, r, a, a->ssh_dir, 0700) || own(s, r, a, a->authorized, 0600)))
		return SETUP_FAILED;
	return SETUP_OK;
}

static int apply_host_keys(struct setup *s, struct step_run *r, struct access *a)
{
	if (a->regen_host_keys) {
		char pattern[PATH_MAX];
		glob_t gl;
		if (setup_path(s, "/etc/ssh/ssh_host_*", pattern, sizeof pattern) < 0)
			return step_fail(r, SETUP_FAILED, "the root's path is too long");
		if (glob(pattern, 0, NULL, &gl) == 0) {
			for (size_t i = 0; i < gl.gl_pathc; i++)
				if (unlink(gl.gl_pathv[i]) < 0 && errno != ENOENT) {
					globfree(&gl);
					return step_fail(r, SETUP_FAILED, "cannot remove %s: %s", gl.gl_pathv[i],
							 strerror(errno));
				}
			globfree(&gl);
		}
	}
	const char *const live[] = { "ssh-keygen", "-A", NULL };
	const char *const rooted[] = { "ssh-keygen", "-A", "-f", s->root, NULL };
	if (setup_exec(s, r, s->live ? live : rooted) != 0)
		return SETUP_FAILED;
	char mark[128];
	int n = snprintf(mark, sizeof mark, "machine-id %s\n", a->machine_id);
	if (a->regen_host_keys && setup_file_write(s, r, HOSTKEYS_MARK, mark, (size_t)n, 0644))
		return SETUP_FAILED;
	note_host_keys(s, r);
	return SETUP_OK;
}

static int access_apply(struct setup *s, struct step_run *r)
{
	struct access *a = r->priv;
	int rc = SETUP_OK;
	if (a->create_owner || a->add_groups)
		rc = apply_owner(s, r, a);
	if (!rc && a->ask_console)
		rc = ask_console(s, r, a);
	if (!rc)
		rc = apply_keys(s, r, a);
	if (!rc && (a->regen_host_keys || a->make_host_keys))
		rc = apply_host_keys(s, r, a);
	bool keys = a->nhave + a->nadd > 0;
	if (!rc && a->dropin > 0 && keys)
		rc = setup_file_write(s, r, SSHD_DROPIN, sshd_dropin, sizeof sshd_dropin - 1, 0644);
	if (!rc && a->dropin < 0) {
		char full[PATH_MAX];
		if (setup_path(s, SSHD_DROPIN, full, sizeof full) < 0 || (unlink(full) < 0 && errno != ENOENT))
			rc = step_fail(r, SETUP_FAILED, "cannot remove %s%s", s->root, SSHD_DROPIN);
	}
	bool sshd_changed = a->regen_host_keys || a->make_host_keys || a->dropin;
	if (!rc && sshd_changed && a->systemd) {
		const char *const argv[] = { "systemctl", "try-reload-or-restart", "ssh.service", NULL };
		if (setup_exec(s, r, argv) != 0)
			rc = SETUP_FAILED;
	}
	return rc;
}

/* ---- verify ---- */

static int access_verify(struct setup *s, struct step_run *r)
{
	const struct access *a = r->priv;
	struct account acc;
	if (account_user(s, a->owner, &acc) < 0)
		return step_fail(r, SETUP_FAILED, "the owner %s has no account in %s/etc/passwd", a->owner, s->root);
	static const char *const groups[] = { "render", "video" };
	for (size_t i = 0; i < 2; i++) {
		gid_t gid;
		bool member;
		if (account_group(s, groups[i], a->owner, &gid, &member) < 0 || !member)
			return step_fail(r, SETUP_FAILED, "%s is not in the group %s", a->owner, groups[i]);
	}
	/* the running sshd's own view: sshd -T prints its effective settings */
	bool keys = a->nhave + a->nadd > 0;
	if (s->live && keys && access("/usr/sbin/sshd", X_OK) == 0) {
		const char *const argv[] = { "sshd", "-T", NULL };
		char *out = malloc(SETUP_MAX_FILE);
		if (!out)
			return step_fail(r, SETUP_FAILED, "out of memory");
		int rc = setup_capture(s, argv, out, SETUP_MAX_FILE);
		bool off = rc == 0 && strstr(out, "\npasswordauthentication no\n");
		free(out);
		if (!off)
			return step_fail(r, SETUP_FAILED, "sshd -T: PasswordAuthentication is not no (status %d)", rc);
	}
	return SETUP_OK;
}

static void access_release(struct step_run *r)
{
	struct access *a = r->priv;
	if (!a)
		return;
	for (size_t i = 0; i < a->nadd; i++)
		free(a->add[i].line);
	free(a->have);
	free(a);
	r->priv = NULL;
}

const struct setup_step step_access = {
	.name = "access",
	.summary = "the owner's login and SSH keys, host keys per machine, no password over SSH",
	.keys = access_keys,
	.check = access_check,
	.apply = access_apply,
	.verify = access_verify,
	.release = access_release,
};
