/* The storage step's parts (private to installer/): the drive inventory
 * (storage_inventory.c: sysfs, /dev/disk/by-id, libblkid, md superblocks),
 * the planner that picks the array's members from it (storage_plan.c, no
 * IO), and the editors of /etc/fstab and /etc/mdadm/mdadm.conf
 * (storage_edit.c, no IO).  step_storage.c puts them together. */
#ifndef TB_SETUP_STORAGE_H
#define TB_SETUP_STORAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STG_MAX_DISKS 32
#define STG_MAX_LINKS 8		/* /dev/disk/by-id names kept per disk */
#define STG_MAX_MEMBERS 8	/* the most drives an array is made of */
#define STG_MAX_ARRAYS 8
#define STG_MAX_LIST 16		/* serials in drives = and wipe = */
#define STG_SERIAL_LEN 160	/* a serial, a WWID or a by-id name */
#define STG_UUID_LEN 40

enum stg_bus { STG_BUS_NVME, STG_BUS_USB, STG_BUS_OTHER };

/* One whole disk as the kernel and udev show it. */
struct stg_disk {
	char name[32];			/* kernel name, for messages only: nvme0n1 */
	unsigned major, minor;
	uint64_t bytes;
	char serial[STG_SERIAL_LEN], model[64], wwid[STG_SERIAL_LEN];
	char by_id[STG_MAX_LINKS][160];	/* its /dev/disk/by-id names, most specific first */
	unsigned nby_id;
	enum stg_bus bus;
	bool removable, readonly;
	bool healthy;			/* its controller is live and it has blocks */
	bool boot;			/* holds the target root's filesystem */
	bool mounted;			/* it or a partition of it is mounted or swapped on */
	char fstype[32];		/* libblkid's superblock type: "ext4", "linux_raid_member" */
	char fsuuid[STG_UUID_LEN];	/* its UUID (an md member's: its array's) */
	char pttype[16];		/* partition table: "gpt", "dos" */
	char holder[32];		/* what holds it open: "md0", "dm-1" */
	/* an md superblock 1.x on it (fstype linux_raid_member) */
	bool md_member;
	int md_level, md_raid_disks, md_role;	/* role -1: spare */
	unsigned md_chunk_kib, md_minor_version;
	char md_uuid[STG_UUID_LEN];	/* "aabbccdd:..." as mdadm prints it */
	char md_name[33];		/* the superblock's set_name: "homehost:name" */
};

/* One md array the kernel has (/sys/block/mdN). */
struct stg_array {
	char name[16];			/* md0 */
	unsigned major, minor;
	char state[24];			/* md/array_state: clean, active, inactive, broken... */
	int level, raid_disks;		/* level -1: none yet */
	unsigned chunk_kib;
	int member[STG_MAX_MEMBERS];	/* indices in the inventory's disks */
	unsigned nmembers;
	char uuid[STG_UUID_LEN];	/* its members' superblock UUID */
};

struct stg_inventory {
	struct stg_disk disk[STG_MAX_DISKS];
	unsigned ndisks;
	struct stg_array array[STG_MAX_ARRAYS];
	unsigned narrays;
	char free_md[16];		/* the md device a new array gets ("md0"), "" when none */
	char boot_note[256];		/* how the boot drive was found, or why not */
};

/* What the config asks for ([storage]). */
struct stg_want {
	bool drives_auto;
	char drives[STG_MAX_LIST][STG_SERIAL_LEN];	/* serials, WWIDs or by-id names */
	unsigned ndrives;
	char wipe[STG_MAX_LIST][STG_SERIAL_LEN];	/* may be wiped though they carry signatures */
	unsigned nwipe;
	unsigned count, chunk_kib;
	char name[33];			/* the array's name: an unfinished one of ours carries it */
};

enum stg_verb {
	STG_ADOPT,		/* a running array matches: kept as it is */
	STG_ASSEMBLE,		/* its members match: assembled, nothing written */
	STG_CREATE,		/* a new array over blank (or wipe-listed) drives */
};

struct stg_plan {
	enum stg_verb verb;
	int member[STG_MAX_MEMBERS];	/* disks, in role order (create: by serial) */
	unsigned nmembers;
	int wipe[STG_MAX_MEMBERS];	/* members whose signatures go first (create only) */
	unsigned nwipe;
	int array;			/* adopt: the running array's index; assemble: an inactive one to stop, or -1 */
	char uuid[STG_UUID_LEN];	/* adopt, assemble: the array's UUID */
	char why[512];			/* a refusal's reason and its fix */
};

/* ---- planner (storage_plan.c) ---- */
/* Choose the array's members.  0 with the plan, or SETUP_REFUSED (2) with
 * plan->why: an ambiguous choice, a listed drive not found or holding the
 * root, a signature on a drive not listed in wipe, a drive held or mounted,
 * fewer healthy drives than count.  Never names the boot drive, a mounted
 * or held drive, a drive outside drives = (when listed), or a drive with a
 * signature outside wipe = as a target of a destructive action. */
int stg_plan(const struct stg_inventory *inv, const struct stg_want *want, struct stg_plan *plan);
/* Whether entry (a config serial, WWID or by-id name) names disk d. */
bool stg_disk_matches(const struct stg_disk *d, const char *entry);
/* The /dev/disk/by-id name the step uses for d: its serial's, else its first. */
const char *stg_disk_id(const struct stg_disk *d);
/* Parse a list value ("auto" or serials separated by commas or blanks):
 * -EINVAL for an entry too long or too many; -ENOENT for "auto". */
int stg_parse_list(const char *value, char list[][STG_SERIAL_LEN], unsigned max, unsigned *n);
/* ext4's stride and stripe width (in blocks) for chunk_kib chunks over members. */
void stg_ext4_geometry(unsigned chunk_kib, unsigned block_bytes, unsigned members, unsigned *stride,
		       unsigned *stripe_width);

/* ---- editors (storage_edit.c): text in, text out (malloc'd), other lines kept byte for byte ---- */
struct stg_fstab_want {
	const char *uuid;	/* the filesystem's */
	const char *mount;	/* "/raid" */
	const char *type;	/* "ext4" */
	const char *options;	/* "defaults,nofail,x-systemd.device-timeout=30s" */
	unsigned pass;
};
/* The line for (uuid, mount) in place of every line for the same mount
 * point or the same filesystem (UUID=, /dev/disk/by-uuid/), compared field
 * by field, never by substring; appended when there is none.  *changed:
 * lines added, replaced or removed.  0 or -ENOMEM / -EINVAL (a field with
 * a blank or a newline). */
int stg_fstab_edit(const char *in, size_t len, const struct stg_fstab_want *w, char **out, size_t *outlen,
		   unsigned *changed);
/* The fstab line as stg_fstab_edit writes it (without its newline), in buf. */
int stg_fstab_line(const struct stg_fstab_want *w, char *buf, size_t len);
/* Whether in has exactly w's line for the mount point (and no other for it). */
bool stg_fstab_has(const char *in, size_t len, const struct stg_fstab_want *w);
/* mdadm.conf: array_line (an "ARRAY dev ... UUID=u" line, as mdadm
 * --detail --brief prints it) in place of every ARRAY entry (with its
 * continuation lines) for the same UUID or the same device; appended
 * when there is none. */
int stg_mdadm_conf_edit(const char *in, size_t len, const char *array_line, char **out, size_t *outlen,
			unsigned *changed);
/* Whether in has an ARRAY entry with that UUID (any separators). */
bool stg_mdadm_conf_has(const char *in, size_t len, const char *uuid);
/* Two UUIDs equal, hex digits compared case-insensitively, separators ignored. */
bool stg_uuid_equal(const char *a, const char *b);

/* ---- inventory (storage_inventory.c) ---- */
struct setup;
/* Every whole disk with a device behind it (/sys/block/X/device), the md
 * arrays, and which disk holds root's filesystem.  0, or negative errno
 * with err. */
int stg_inventory_read(const struct setup *s, struct stg_inventory *inv, char *err, size_t errlen);
/* The filesystem on a block device (libblkid): type, UUID, label ("" when none).
 * 0, or negative errno. */
int stg_probe_fs(const char *dev, char *type, size_t tlen, char *uuid, size_t ulen, char *label, size_t llen);
/* The whole disks (major:minor pairs) under the block device maj:min,
 * through partitions and md/dm slaves.  The count, or negative errno. */
int stg_whole_disks(unsigned maj, unsigned min, unsigned (*out)[2], unsigned max);

#endif
