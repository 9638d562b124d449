/* The first network device through Unikraft's netdev API (<uk/netdev.h>),
 * for netdev.ml: open it (one receive and one transmit queue), receive a
 * frame, send a frame.
 *
 * Receiving works in interrupt mode: the receive queue's event callback
 * runs in the netdev dispatcher thread (CONFIG_LIBUKNETDEV_DISPATCHERTHREADS)
 * and wakes the OCaml thread waiting in example_netdev_receive, which has
 * released the OCaml runtime meanwhile. The queue's protocol, from
 * <uk/netdev.h> and the virtio-net driver:
 * - uk_netdev_rxq_intr_enable returns 0 when the interrupt is armed, 1 when
 *   frames are already queued (then it stays off);
 * - uk_netdev_rx_one must not be called while the interrupt is armed (the
 *   driver asserts that); once an interrupt came, it is off until
 *   uk_netdev_rx_one finds the queue empty, re-arms it and returns without
 *   UK_NETDEV_STATUS_MORE.
 *
 * Needs a bundle with the netdev API and a network driver (the base
 * fragment's device options; built without them, every function fails
 * saying so); without a device, open_device fails. */
#include <string.h>
#include <stdio.h>
#include <caml/mlvalues.h>
#include <caml/alloc.h>
#include <caml/memory.h>
#include <caml/fail.h>
#include <caml/signals.h>
#include <uk/config.h>

#if CONFIG_LIBUKNETDEV && CONFIG_LIBUKNETDEV_DISPATCHERTHREADS
#include <uk/alloc.h>
#include <uk/netdev.h>
#include <uk/netbuf.h>
#include <uk/sched.h>
#include <uk/semaphore.h>

/* Receive buffers: a whole Ethernet frame, the driver's header room, and
 * half a page so that virtio-net keeps each buffer within one page. */
#define BUFFER_SIZE 2048

static struct uk_netdev *dev;
static struct uk_alloc *allocator;
static struct uk_netdev_info info;
static struct uk_semaphore rx_event;
/* The receive interrupt is armed: wait for rx_event before receiving. */
static int armed;

static void fail(const char *what, int rc)
{
	char message[80];

	snprintf(message, sizeof(message), "netdev: %s failed (%d)", what, rc);
	caml_failwith(message);
}

/* The driver's way to refill the receive queue. */
static uint16_t alloc_rx_buffers(void *argp, struct uk_netbuf *bufs[],
				 uint16_t count)
{
	uint16_t i;

	(void)argp;
	for (i = 0; i < count; i++) {
		bufs[i] = uk_netbuf_alloc_buf(allocator, BUFFER_SIZE,
					      info.ioalign, info.nb_encap_rx,
					      0, NULL);
		if (!bufs[i])
			break;
		bufs[i]->len = bufs[i]->buflen - info.nb_encap_rx;
	}
	return i;
}

/* Runs in the dispatcher thread after a receive interrupt. */
static void on_receive(struct uk_netdev *d, uint16_t queue, void *argp)
{
	(void)d;
	(void)queue;
	(void)argp;
	uk_semaphore_up(&rx_event);
}

/* unit -> string * int: the MAC address (6 bytes) and the MTU. */
value example_netdev_open(value unit)
{
	CAMLparam1(unit);
	CAMLlocal2(result, mac);
	struct uk_netdev_conf conf = { .nb_rx_queues = 1, .nb_tx_queues = 1 };
	struct uk_netdev_rxqueue_conf rx_conf;
	struct uk_netdev_txqueue_conf tx_conf;
	const struct uk_hwaddr *hwaddr;
	int rc;

	if (dev)
		caml_failwith("netdev: already open");
	if (uk_netdev_count() == 0)
		caml_failwith("netdev: no network device");
	dev = uk_netdev_get(0);
	allocator = uk_alloc_get_default();
	uk_semaphore_init(&rx_event, 0);
	if (uk_netdev_state_get(dev) == UK_NETDEV_UNPROBED) {
		rc = uk_netdev_probe(dev);
		if (rc < 0)
			fail("probe", rc);
	}
	uk_netdev_info_get(dev, &info);
	rc = uk_netdev_configure(dev, &conf);
	if (rc < 0)
		fail("configure", rc);
	memset(&rx_conf, 0, sizeof(rx_conf));
	rx_conf.a = allocator;
	rx_conf.alloc_rxpkts = alloc_rx_buffers;
	rx_conf.callback = on_receive;
	rx_conf.s = uk_sched_current();
	rc = uk_netdev_rxq_configure(dev, 0, 0, &rx_conf);
	if (rc < 0)
		fail("receive queue setup", rc);
	memset(&tx_conf, 0, sizeof(tx_conf));
	tx_conf.a = allocator;
	rc = uk_netdev_txq_configure(dev, 0, 0, &tx_conf);
	if (rc < 0)
		fail("transmit queue setup", rc);
	rc = uk_netdev_start(dev);
	if (rc < 0)
		fail("start", rc);
	rc = uk_netdev_rxq_intr_enable(dev, 0);
	if (rc < 0)
		fail("receive interrupt", rc);
	armed = rc == 0;

	/* Both assert unless the device is configured. */
	hwaddr = uk_netdev_hwaddr_get(dev);
	mac = caml_alloc_initialized_string(UK_NETDEV_HWADDR_LEN,
					    (const char *)hwaddr->addr_bytes);
	result = caml_alloc_tuple(2);
	Store_field(result, 0, mac);
	Store_field(result, 1, Val_int(uk_netdev_mtu_get(dev)));
	CAMLreturn(result);
}

/* unit -> bytes: the next frame, waiting for it. */
value example_netdev_receive(value unit)
{
	CAMLparam1(unit);
	CAMLlocal1(frame);
	struct uk_netbuf *buf = NULL;
	int status;

	if (!dev)
		caml_failwith("netdev: not open");
	caml_enter_blocking_section();
	for (;;) {
		if (armed) {
			uk_semaphore_down(&rx_event);
			armed = 0;
		}
		status = uk_netdev_rx_one(dev, 0, &buf);
		if (status < 0)
			break;
		if (!(status & UK_NETDEV_STATUS_MORE))
			armed = 1;
		if (status & UK_NETDEV_STATUS_SUCCESS)
			break;
	}
	caml_leave_blocking_section();
	if (status < 0)
		fail("receive", status);
	frame = caml_alloc_string(buf->len);
	memcpy(Bytes_val(frame), buf->data, buf->len);
	uk_netbuf_free(buf);
	CAMLreturn(frame);
}

/* bytes -> unit: sends one frame (the driver frees the buffer once the
 * device has it). */
value example_netdev_send(value frame)
{
	CAMLparam1(frame);
	struct uk_netbuf *buf;
	size_t len = caml_string_length(frame);
	int status;

	if (!dev)
		caml_failwith("netdev: not open");
	if (len > (size_t)(BUFFER_SIZE - info.nb_encap_tx))
		caml_invalid_argument("netdev: frame too long");
	buf = uk_netbuf_alloc_buf(allocator, BUFFER_SIZE, info.ioalign,
				  info.nb_encap_tx, 0, NULL);
	if (!buf)
		caml_raise_out_of_memory();
	memcpy(buf->data, Bytes_val(frame), len);
	buf->len = len;
	status = uk_netdev_tx_one(dev, 0, buf);
	if (!uk_netdev_status_successful(status)) {
		uk_netbuf_free(buf);
		fail("send", status);
	}
	CAMLreturn(Val_unit);
}

#else

/* A bundle without these options (a --config-dir configuration, say):
 * the example still builds, and fails at run time saying why. */
static void missing(void)
{
	caml_failwith("netdev: this bundle lacks CONFIG_LIBUKNETDEV with _DISPATCHERTHREADS");
}

value example_netdev_open(value unit)
{
	(void)unit;
	missing();
	return Val_unit;
}

value example_netdev_receive(value unit)
{
	(void)unit;
	missing();
	return Val_unit;
}

value example_netdev_send(value frame)
{
	(void)frame;
	missing();
	return Val_unit;
}

#endif
