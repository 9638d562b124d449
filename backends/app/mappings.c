/* Shared file mappings, coherent within the program.
 *
 * Unikraft 0.17's mmap (lib/posix-mmap over ukvmem) maps a file by
 * copying it into fresh pages at mapping time: a writable MAP_SHARED
 * mapping fails with ENOTSUP, and a read-only one is a private snapshot
 * that later writes through another mapping never reach. OCaml uses
 * shared mappings for Unix.map_file (bigarrays on files) and for its
 * runtime events ring, which the program's own consumer maps a second
 * time to read: both failed (the runtime crashed writing through the
 * failed mapping).
 *
 * A unikernel is one process, so "shared" only has to mean shared between
 * the program's own mappings and its file. Here each file mapped shared
 * gets one copy in memory (a large anonymous area reserved once; only the
 * pages touched cost memory), loaded from the file, and every shared
 * mapping of the file is a range of that copy: all see each other's writes
 * at once. The file receives the writes when a mapping is synced (msync)
 * or unmapped, which is what POSIX promises; read() and write() on the
 * file in between do not see the mapping (on Linux they would). A private
 * mapping of a file that is mapped shared starts from the shared copy, as
 * it would from Linux's page cache. Everything else goes to Unikraft.
 *
 * The final link wraps the system calls (-Wl,--wrap=uk_syscall_r_mmap and
 * the others, see Makefile.uk). A lock keeps the tables consistent: the
 * file I/O done under it may block. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <uk/mutex.h>

#define PAGE 4096UL
#define PAGE_UP(x) (((x) + PAGE - 1) & ~(PAGE - 1))
/* Address space reserved for each file's copy: mappings of a file may
 * reach this far into it. */
#define RESERVE (1UL << 30)

long __real_uk_syscall_r_mmap(long addr, long len, long prot, long flags,
			      long fd, long off);
long __real_uk_syscall_r_munmap(long addr, long len);
long __real_uk_syscall_r_msync(long addr, long len, long flags);
long __wrap_uk_syscall_r_mmap(long addr, long len, long prot, long flags,
			      long fd, long off);
long __wrap_uk_syscall_r_munmap(long addr, long len);
long __wrap_uk_syscall_r_msync(long addr, long len, long flags);
long uk_syscall_r_fstat(long fd, long st);
long uk_syscall_r_fcntl(long fd, long cmd, long arg);
long uk_syscall_r_dup(long fd);
long uk_syscall_r_close(long fd);
long uk_syscall_r_pread64(long fd, long buf, long count, long off);
long uk_syscall_r_pwrite64(long fd, long buf, long count, long off);
long uk_syscall_r_mprotect(long addr, long len, long prot);

/* The one copy of a file mapped shared. */
struct shared_file {
	dev_t dev;
	ino_t ino;
	int fd;        /* our own descriptor: the program may close its own */
	char *copy;    /* RESERVE bytes, the file from offset 0 */
	size_t loaded; /* bytes read from the file so far */
	unsigned int mappings;
	struct shared_file *next;
};

/* One shared mapping the program holds (a range of a file's copy). */
struct shared_mapping {
	char *addr;
	size_t len;
	struct shared_file *file;
	struct shared_mapping *next;
};

static struct shared_file *files;
static struct shared_mapping *mappings;
static struct uk_mutex lock = UK_MUTEX_INITIALIZER(lock);

static struct shared_file *file_of(const struct stat *st)
{
	struct shared_file *f;

	for (f = files; f; f = f->next)
		if (f->dev == st->st_dev && f->ino == st->st_ino)
			return f;
	return NULL;
}

/* The file whose copy holds `addr`, if any. */
static struct shared_file *file_containing(const char *addr)
{
	struct shared_file *f;

	for (f = files; f; f = f->next)
		if (addr >= f->copy && addr < f->copy + RESERVE)
			return f;
	return NULL;
}

/* Reads what the file has beyond what the copy holds already (the copy's
 * bytes are newer than the file's: they hold unsynced writes). */
static long load(struct shared_file *f, size_t file_size)
{
	size_t end = file_size < RESERVE ? file_size : RESERVE;
	long got;

	while (f->loaded < end) {
		got = uk_syscall_r_pread64(f->fd, (long)(f->copy + f->loaded),
					   end - f->loaded, f->loaded);
		if (got < 0)
			return got;
		if (got == 0)
			break;
		f->loaded += got;
	}
	return 0;
}

/* Writes [from, from + len) of the copy back to the file, up to the file's
 * end (a mapping's bytes past the end are not the file's, as on Linux). */
static long write_back(struct shared_file *f, size_t from, size_t len)
{
	struct stat st;
	size_t end = from + len;
	long done, rc;

	rc = uk_syscall_r_fstat(f->fd, (long)&st);
	if (rc < 0)
		return rc;
	if (end > (size_t)st.st_size)
		end = st.st_size;
	while (from < end) {
		done = uk_syscall_r_pwrite64(f->fd, (long)(f->copy + from),
					     end - from, from);
		if (done <= 0)
			return done < 0 ? done : -EIO;
		from += done;
	}
	return 0;
}

static long map_shared(const struct stat *st, long len, long fd, long off)
{
	struct shared_file *f = file_of(st);
	struct shared_mapping *m;
	long rc;

	if (!f) {
		f = calloc(1, sizeof(*f));
		if (!f)
			return -ENOMEM;
		f->dev = st->st_dev;
		f->ino = st->st_ino;
		f->fd = uk_syscall_r_dup(fd);
		if (f->fd < 0) {
			rc = f->fd;
			free(f);
			return rc;
		}
		f->copy = (char *)__real_uk_syscall_r_mmap(
			0, RESERVE, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if ((long)f->copy < 0) {
			rc = (long)f->copy;
			uk_syscall_r_close(f->fd);
			free(f);
			return rc;
		}
		f->next = files;
		files = f;
	}
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	rc = load(f, st->st_size);
	if (rc < 0) {
		free(m);
		return rc;
	}
	m->addr = f->copy + off;
	m->len = len;
	m->file = f;
	m->next = mappings;
	mappings = m;
	f->mappings++;
	return (long)m->addr;
}

/* A private mapping of a file mapped shared: a copy of the shared copy. */
static long map_private_copy(struct shared_file *f, const struct stat *st,
			     long len, long prot, long off)
{
	long addr, rc;
	size_t avail;

	rc = load(f, st->st_size);
	if (rc < 0)
		return rc;
	addr = __real_uk_syscall_r_mmap(0, len, PROT_READ | PROT_WRITE,
					MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (addr < 0)
		return addr;
	avail = f->loaded > (size_t)off ? f->loaded - off : 0;
	memcpy((void *)addr, f->copy + off, avail < (size_t)len ? avail : (size_t)len);
	if (!(prot & PROT_WRITE))
		uk_syscall_r_mprotect(addr, PAGE_UP(len), prot);
	return addr;
}

long __wrap_uk_syscall_r_mmap(long addr, long len, long prot, long flags,
			      long fd, long off)
{
	struct shared_file *f;
	struct stat st;
	long rc, mode;
	int shared = (flags & MAP_TYPE) == MAP_SHARED ||
		     (flags & MAP_TYPE) == MAP_SHARED_VALIDATE;

	if ((flags & (MAP_ANONYMOUS | MAP_FIXED)) || fd < 0)
		return __real_uk_syscall_r_mmap(addr, len, prot, flags, fd, off);
	if (uk_syscall_r_fstat(fd, (long)&st) < 0 || !S_ISREG(st.st_mode))
		return __real_uk_syscall_r_mmap(addr, len, prot, flags, fd, off);
	if (len <= 0 || off < 0 || off % PAGE)
		return -EINVAL;
	if ((size_t)off > RESERVE || (size_t)len > RESERVE - off)
		return -ENOMEM;
	mode = uk_syscall_r_fcntl(fd, F_GETFL, 0);
	if (mode < 0)
		return mode;
	if ((mode & O_ACCMODE) == O_WRONLY ||
	    (shared && (prot & PROT_WRITE) && (mode & O_ACCMODE) != O_RDWR))
		return -EACCES;

	uk_mutex_lock(&lock);
	f = file_of(&st);
	if (shared)
		rc = map_shared(&st, len, fd, off);
	else if (f)
		rc = map_private_copy(f, &st, len, prot, off);
	else
		rc = __real_uk_syscall_r_mmap(addr, len, prot, flags, fd, off);
	uk_mutex_unlock(&lock);
	return rc;
}

long __wrap_uk_syscall_r_munmap(long addr, long len)
{
	struct shared_mapping **at, *m;
	struct shared_file **fat, *f;

	/* A mapping is gone even when its bytes could not be written back:
	 * like Linux's, this munmap does not report that. */
	uk_mutex_lock(&lock);
	for (at = &mappings; *at; at = &(*at)->next)
		if ((*at)->addr == (char *)addr)
			break;
	m = *at;
	if (!m) {
		/* Part of a mapping: its bytes go to the file, and the copy
		 * stays for the rest of it and for the other mappings. */
		f = file_containing((char *)addr);
		if (f)
			write_back(f, (char *)addr - f->copy, len);
		uk_mutex_unlock(&lock);
		return f ? 0 : __real_uk_syscall_r_munmap(addr, len);
	}
	f = m->file;
	*at = m->next;
	write_back(f, m->addr - f->copy, m->len);
	free(m);
	if (--f->mappings == 0) {
		for (fat = &files; *fat != f; fat = &(*fat)->next)
			;
		*fat = f->next;
		uk_syscall_r_close(f->fd);
		__real_uk_syscall_r_munmap((long)f->copy, RESERVE);
		free(f);
	}
	uk_mutex_unlock(&lock);
	return 0;
}

long __wrap_uk_syscall_r_msync(long addr, long len, long flags)
{
	struct shared_file *f;
	long rc;

	uk_mutex_lock(&lock);
	f = file_containing((char *)addr);
	rc = f ? write_back(f, (char *)addr - f->copy, len) : 0;
	uk_mutex_unlock(&lock);
	if (!f)
		return __real_uk_syscall_r_msync(addr, len, flags);
	return rc;
}
