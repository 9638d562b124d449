/* The first block device through Unikraft's blkdev API (<uk/blkdev.h>),
 * for blkdev.ml: open it (one queue), read and write whole sectors, flush
 * and stop it.
 *
 * I/O is synchronous (uk_blkdev_sync_io, CONFIG_LIBUKBLKDEV_SYNC_IO_
 * BLOCKED_WAITING): the request waits on a semaphore that the queue's
 * completion raises. Completions are processed by the queue's event
 * callback, which runs in the blkdev dispatcher thread
 * (CONFIG_LIBUKBLKDEV_DISPATCHERTHREADS) after the queue's interrupt; the
 * OCaml runtime is released while a request waits. Data goes through a C
 * buffer: OCaml may move the bytes meanwhile.
 *
 * Needs a bundle with the blkdev API and a block driver (the base
 * fragment's device options; built without them, every function fails
 * saying so); without a device, open_device fails. */
#include <errno.h>
#include <string.h>
#include <stdio.h>
#include <caml/mlvalues.h>
#include <caml/alloc.h>
#include <caml/memory.h>
#include <caml/fail.h>
#include <caml/signals.h>
#include <uk/config.h>

#if CONFIG_LIBUKBLKDEV && CONFIG_LIBUKBLKDEV_DISPATCHERTHREADS && CONFIG_LIBUKBLKDEV_SYNC_IO_BLOCKED_WAITING
#include <uk/alloc.h>
#include <uk/blkdev.h>
#include <uk/sched.h>

static struct uk_blkdev *dev;
static struct uk_alloc *allocator;

static void fail(const char *what, int rc)
{
	char message[80];

	snprintf(message, sizeof(message), "blkdev: %s failed (%d)", what, rc);
	caml_failwith(message);
}

/* Runs in the dispatcher thread after the queue's interrupt: completes
 * the finished requests, which wakes their waiters. */
static void on_queue_event(struct uk_blkdev *d, uint16_t queue, void *argp)
{
	(void)argp;
	uk_blkdev_queue_finish_reqs(d, queue);
}

/* unit -> int * int: the number of sectors and the sector size. */
value example_blkdev_open(value unit)
{
	CAMLparam1(unit);
	CAMLlocal1(result);
	struct uk_blkdev_conf conf = { .nb_queues = 1 };
	struct uk_blkdev_queue_conf queue_conf;
	int rc;

	if (dev)
		caml_failwith("blkdev: already open");
	if (uk_blkdev_count() == 0)
		caml_failwith("blkdev: no block device");
	dev = uk_blkdev_get(0);
	allocator = uk_alloc_get_default();
	rc = uk_blkdev_configure(dev, &conf);
	if (rc < 0)
		fail("configure", rc);
	memset(&queue_conf, 0, sizeof(queue_conf));
	queue_conf.a = allocator;
	queue_conf.callback = on_queue_event;
	queue_conf.s = uk_sched_current();
	rc = uk_blkdev_queue_configure(dev, 0, 0, &queue_conf);
	if (rc < 0)
		fail("queue setup", rc);
	rc = uk_blkdev_start(dev);
	if (rc < 0)
		fail("start", rc);
	rc = uk_blkdev_queue_intr_enable(dev, 0);
	if (rc < 0)
		fail("queue interrupt", rc);
	result = caml_alloc_tuple(2);
	Store_field(result, 0, Val_long(uk_blkdev_sectors(dev)));
	Store_field(result, 1, Val_long(uk_blkdev_ssize(dev)));
	CAMLreturn(result);
}

/* One synchronous request on `count` sectors from `sector`, through
 * `buffer`, with the OCaml runtime released. */
static int sync_io(enum uk_blkreq_op op, __sector sector, __sector count,
		   void *buffer)
{
	int rc;

	caml_enter_blocking_section();
	rc = uk_blkdev_sync_io(dev, 0, op, sector, count, buffer);
	caml_leave_blocking_section();
	return rc;
}

static void *io_buffer(size_t size)
{
	void *buffer = uk_memalign(allocator, uk_blkdev_ioalign(dev), size);

	if (!buffer)
		caml_raise_out_of_memory();
	return buffer;
}

static void check_range(long sector, long count)
{
	if (!dev)
		caml_failwith("blkdev: not open");
	if (sector < 0 || count <= 0
	    || (unsigned long)count > uk_blkdev_max_sec_per_req(dev)
	    || (unsigned long)(sector + count) > uk_blkdev_sectors(dev))
		caml_invalid_argument("blkdev: sectors out of range");
}

/* int -> int -> bytes: `count` sectors from `sector`. */
value example_blkdev_read(value sector, value count)
{
	CAMLparam2(sector, count);
	CAMLlocal1(data);
	size_t size;
	void *buffer;
	int rc;

	check_range(Long_val(sector), Long_val(count));
	size = Long_val(count) * uk_blkdev_ssize(dev);
	buffer = io_buffer(size);
	rc = sync_io(UK_BLKREQ_READ, Long_val(sector), Long_val(count), buffer);
	if (rc < 0) {
		uk_free(allocator, buffer);
		fail("read", rc);
	}
	data = caml_alloc_string(size);
	memcpy(Bytes_val(data), buffer, size);
	uk_free(allocator, buffer);
	CAMLreturn(data);
}

/* int -> bytes -> unit: writes whole sectors from `sector`. */
value example_blkdev_write(value sector, value data)
{
	CAMLparam2(sector, data);
	size_t size = caml_string_length(data);
	size_t ssize;
	void *buffer;
	int rc;

	if (!dev)
		caml_failwith("blkdev: not open");
	ssize = uk_blkdev_ssize(dev);
	if (size % ssize != 0)
		caml_invalid_argument("blkdev: not a whole number of sectors");
	check_range(Long_val(sector), size / ssize);
	buffer = io_buffer(size);
	memcpy(buffer, Bytes_val(data), size);
	rc = sync_io(UK_BLKREQ_WRITE, Long_val(sector), size / ssize, buffer);
	uk_free(allocator, buffer);
	if (rc < 0)
		fail("write", rc);
	CAMLreturn(Val_unit);
}

/* unit -> unit: flushes the device's write cache (when it has one) and
 * stops the device. */
value example_blkdev_close(value unit)
{
	CAMLparam1(unit);
	int rc;

	if (!dev)
		caml_failwith("blkdev: not open");
	rc = sync_io(UK_BLKREQ_FFLUSH, 0, 0, NULL);
	if (rc < 0 && rc != -ENOTSUP)
		fail("flush", rc);
	rc = uk_blkdev_stop(dev);
	if (rc < 0)
		fail("stop", rc);
	CAMLreturn(Val_unit);
}

#else

/* A bundle without these options (a --config-dir configuration, say):
 * the example still builds, and fails at run time saying why. */
static void missing(void)
{
	caml_failwith("blkdev: this bundle lacks CONFIG_LIBUKBLKDEV with _DISPATCHERTHREADS and _SYNC_IO_BLOCKED_WAITING");
}

value example_blkdev_open(value unit)
{
	(void)unit;
	missing();
	return Val_unit;
}

value example_blkdev_read(value sector, value count)
{
	(void)sector;
	(void)count;
	missing();
	return Val_unit;
}

value example_blkdev_write(value sector, value data)
{
	(void)sector;
	(void)data;
	missing();
	return Val_unit;
}

value example_blkdev_close(value unit)
{
	(void)unit;
	missing();
	return Val_unit;
}

#endif
