/* The storage step's editors of /etc/fstab and /etc/mdadm/mdadm.conf on
 * fixture files with existing entries: the array's line replaces the lines
 * for the same mount point or filesystem (fstab) and the same array
 * (mdadm.conf), every other line stays byte for byte, and an edit of the
 * result changes nothing. */
#include <stdlib.h>
#include <string.h>

#include "installer/storage.h"
#include "tests/tap.h"

#define UUID "3f2a9c1e-8b4d-4e6f-9a0b-1c2d3e4f5a6b"
#define OPTS "defaults,nofail,x-systemd.device-timeout=30s"
#define OURS "UUID=" UUID " /raid ext4 " OPTS " 0 2"

static const struct stg_fstab_want want = { .uuid = UUID, .mount = "/raid", .type = "ext4", .options = OPTS, .pass = 2 };

static char *fstab(const char *in, unsigned *changed)
{
	char *out = NULL;
	size_t len;
	if (stg_fstab_edit(in, strlen(in), &want, &out, &len, changed) < 0 || strlen(out) != len) {
		free(out);
		return NULL;
	}
	return out;
}

static void check_same(const char *name, const char *got, const char *expect)
{
	check(got && !strcmp(got, expect), "%s", name);
	if (got && strcmp(got, expect))
		printf("# got:\n%s# expected:\n%s", got, expect);
}

static void test_fstab(void)
{
	static const char in[] =
		"# /etc/fstab: static file system information.\n"
		"#\n"
		"# <file system> <mount point>   <type>  <options>       <dump>  <pass>\n"
		"UUID=0a1b2c3d-0000-4000-8000-000000000001 / ext4 errors=remount-ro 0 1\n"
		"#UUID=0a1b2c3d-0000-4000-8000-000000000009 /raid ext4 defaults 0 2\n"
		"/dev/sdb1\t/raid2\text4\tdefaults\t0\t2\n"
		"tmpfs /mnt/raid tmpfs defaults 0 0\n"
		"/dev/sdc1 /raid\\040old ext4 defaults 0 2\n"
		"\n"
		"UUID=0a1b2c3d-0000-4000-8000-0000000000ff /raid ext4 defaults 0 2\n"
		"/dev/md127 /raid/ ext4 defaults 0 0\n"
		"LABEL=swap none swap sw 0 0\n";
	static const char expect[] =
		"# /etc/fstab: static file system information.\n"
		"#\n"
		"# <file system> <mount point>   <type>  <options>       <dump>  <pass>\n"
		"UUID=0a1b2c3d-0000-4000-8000-000000000001 / ext4 errors=remount-ro 0 1\n"
		"#UUID=0a1b2c3d-0000-4000-8000-000000000009 /raid ext4 defaults 0 2\n"
		"/dev/sdb1\t/raid2\text4\tdefaults\t0\t2\n"
		"tmpfs /mnt/raid tmpfs defaults 0 0\n"
		"/dev/sdc1 /raid\\040old ext4 defaults 0 2\n"
		"\n"
		OURS "\n"
		"LABEL=swap none swap sw 0 0\n";
	unsigned changed = 0;
	char *out = fstab(in, &changed);
	check_same("fstab: the /raid line of another UUID replaced, /raid/ dropped, the rest byte for byte", out, expect);
	check(changed == 2, "fstab: two lines changed (one replaced, one removed): %u", changed);
	check(!stg_fstab_has(in, strlen(in), &want), "fstab: the fixture does not have the array's line");
	check(out && stg_fstab_has(out, strlen(out), &want), "fstab: the result has it, once");
	unsigned again = 9;
	char *out2 = out ? fstab(out, &again) : NULL;
	check_same("fstab: editing the result gives the same bytes", out2, expect);
	check(again == 0, "fstab: editing the result changes nothing: %u", again);
	free(out);
	free(out2);

	/* substrings of the mount point and comments only: appended */
	static const char subs[] = "/dev/sdb1 /raid2 ext4 defaults 0 2\n# /raid\ntmpfs /mnt/raid tmpfs defaults 0 0";
	out = fstab(subs, &changed);
	check_same("fstab: /raid2, '# /raid' and /mnt/raid kept, the line appended after a newline", out,
		   "/dev/sdb1 /raid2 ext4 defaults 0 2\n# /raid\ntmpfs /mnt/raid tmpfs defaults 0 0\n" OURS "\n");
	check(changed == 1, "fstab: one line added: %u", changed);
	free(out);

	/* the same filesystem at another mount point, by UUID="..." in capitals and by-uuid */
	static const char moved[] = "UUID=\"3F2A9C1E-8B4D-4E6F-9A0B-1C2D3E4F5A6B\" /data ext4 defaults 0 2\n"
				    "/dev/disk/by-uuid/" UUID " /srv ext4 defaults 0 2\n";
	out = fstab(moved, &changed);
	check_same("fstab: the filesystem's lines at other mount points become the one /raid line", out, OURS "\n");
	free(out);

	out = fstab("", &changed);
	check_same("fstab: an empty fstab gets the line", out, OURS "\n");
	free(out);
	out = fstab(OURS, &changed);
	check_same("fstab: our line without its newline gets one", out, OURS "\n");
	check(changed == 1, "fstab: that counts as a change: %u", changed);
	free(out);

	struct stg_fstab_want bad = want;
	bad.mount = "/ra id";
	char *o = NULL;
	size_t len;
	check(stg_fstab_edit("", 0, &bad, &o, &len, &changed) < 0 && !o, "fstab: a mount point with a blank is refused");
	bad = want;
	bad.uuid = "x\ny";
	check(stg_fstab_edit("", 0, &bad, &o, &len, &changed) < 0 && !o, "fstab: a UUID with a newline is refused");
}

#define MD_UUID "da03abc7:db235a9d:8e0efe63:ea2c879e"
#define ARRAY "ARRAY /dev/md0 metadata=1.2 name=vm:raid UUID=" MD_UUID

static char *mdconf(const char *in, const char *line, unsigned *changed)
{
	char *out = NULL;
	size_t len;
	if (stg_mdadm_conf_edit(in, strlen(in), line, &out, &len, changed) < 0 || strlen(out) != len) {
		free(out);
		return NULL;
	}
	return out;
}

static void test_mdadm_conf(void)
{
	static const char in[] =
		"# mdadm.conf\n"
		"#\n"
		"# ARRAY /dev/md0 UUID=" MD_UUID "\n"
		"HOMEHOST <system>\n"
		"MAILADDR root\n"
		"ARRAY /dev/md/other metadata=1.2 UUID=aaaaaaaa:bbbbbbbb:cccccccc:dddddddd name=x:other\n"
		"ARRAY /dev/md0 metadata=1.2 name=old:raid\n"
		"   UUID=11111111:22222222:33333333:44444444\n"
		"\n"
		"array /dev/md/raid uuid=DA03ABC7-DB23-5A9D-8E0E-FE63EA2C879E # ours, by another name\n"
		"ARRAY /dev/md/other2 UUID=da03abc7:db235a9d:8e0efe63:ea2c879f\n";
	static const char expect[] =
		"# mdadm.conf\n"
		"#\n"
		"# ARRAY /dev/md0 UUID=" MD_UUID "\n"
		"HOMEHOST <system>\n"
		"MAILADDR root\n"
		"ARRAY /dev/md/other metadata=1.2 UUID=aaaaaaaa:bbbbbbbb:cccccccc:dddddddd name=x:other\n"
		ARRAY "\n"
		"\n"
		"ARRAY /dev/md/other2 UUID=da03abc7:db235a9d:8e0efe63:ea2c879f\n";
	unsigned changed = 0;
	char *out = mdconf(in, ARRAY, &changed);
	check_same("mdadm.conf: md0's entry (with its continuation line) replaced, our UUID's other entry dropped, "
		   "other arrays and comments kept", out, expect);
	check(changed == 2, "mdadm.conf: two entries changed: %u", changed);
	static const char commented[] = "# ARRAY /dev/md0 UUID=" MD_UUID "\n";
	check(!stg_mdadm_conf_has(commented, strlen(commented), MD_UUID), "mdadm.conf: a commented ARRAY line is no entry");
	check(stg_mdadm_conf_has(in, strlen(in), MD_UUID), "mdadm.conf: an entry with the UUID in other separators is found");
	check(!stg_mdadm_conf_has(expect, strlen(expect), "11111111:22222222:33333333:44444444"),
	      "mdadm.conf: the old md0 UUID is gone");
	unsigned again = 9;
	char *out2 = out ? mdconf(out, ARRAY, &again) : NULL;
	check_same("mdadm.conf: editing the result gives the same bytes", out2, expect);
	check(again == 0, "mdadm.conf: editing the result changes nothing: %u", again);
	free(out);
	free(out2);

	out = mdconf("MAILADDR root", ARRAY, &changed);
	check_same("mdadm.conf: appended after a newline when there is no entry", out, "MAILADDR root\n" ARRAY "\n");
	free(out);
	out = mdconf("", "MAILADDR root", &changed);
	check(!out, "mdadm.conf: a line that is no ARRAY line with a UUID is refused");
	check(stg_uuid_equal("AB-cd", "abcd") && !stg_uuid_equal("abcd", "abce") && !stg_uuid_equal("", ""),
	      "UUIDs compare by their hex digits only");
}

int main(void)
{
	test_fstab();
	test_mdadm_conf();
	return tap_done();
}
