/* A fast console: the guest's console output over virtio-console when the
 * VMM offers one, the serial line otherwise.
 *
 * Every byte to a 16550 or PL011 UART is one trap into the VMM, and QEMU
 * writes each to its character device with a system call of its own: about
 * 0.5 MB/s, whatever the program does. A virtio-console device takes a
 * whole buffer per notification, and QEMU writes it with one call.
 *
 * The driver below binds the first virtio-console device and sends through
 * the transmit queue of its port 1, a plain port: QEMU throttles the guest
 * when the host side cannot take more (a full pipe), where it drops what a
 * console port (port 0) sends then. Port 1 needs the multiport feature and
 * its control queue, on which the driver says the device and the port are
 * ready and the port open. The link wraps ukplat_coutk
 * (-Wl,--wrap=ukplat_coutk), Unikraft's console output for the kernel and
 * for stdout/stderr, so that once the device is up everything goes there.
 * Before it is up (early boot), without the device, and when called again
 * while a buffer is in flight (a message from an interrupt handler), output
 * goes to the serial line as before. The runner gives both devices one
 * character device, so the order of the output is kept.
 *
 * Output is copied into a buffer of the kernel image's (physically
 * contiguous, so that a buffer is one segment) and sent; the call waits for
 * the device to have taken it, polling (no interrupt), as the UART driver
 * waits for its transmitter. */
#include <uk/config.h>
#include <uk/plat/console.h>

int __real_ukplat_coutk(const char *buf, unsigned int len);
int __wrap_ukplat_coutk(const char *buf, unsigned int len);

#if CONFIG_LIBVIRTIO_BUS
#include <errno.h>
#include <uk/alloc.h>
#include <uk/errptr.h>
#include <uk/essentials.h>
#include <uk/print.h>
#include <uk/sglist.h>
#include <virtio/virtio_bus.h>
#include <virtio/virtio_ids.h>
#include <virtio/virtqueue.h>

/* With the multiport feature, queues come in pairs (receive, transmit):
 * port 0's, the control queues', then port 1's.
 */
#define VCON_F_MULTIPORT 1
#define VCON_QUEUES 6
#define VCON_CONTROL_RECEIVE 2
#define VCON_CONTROL_TRANSMIT 3
#define VCON_TRANSMIT 5
#define VCON_PORT 1
/* Control events (virtio 1.x, 5.3.6.2). */
#define VCON_DEVICE_READY 0
#define VCON_PORT_ADD 1
#define VCON_PORT_READY 3
#define VCON_PORT_OPEN 6
/* Bytes sent per notification. */
#define VCON_CHUNK 4096
/* Buffers for the device's control messages, and their size (a message
 * is 8 bytes, a port name's longer).
 */
#define VCON_CONTROL_BUFFERS 4
#define VCON_CONTROL_SIZE 64
/* Polls for the answer to DEVICE_READY (QEMU answers at once). */
#define VCON_ANSWER_POLLS 100000

struct vcon_control {
	__u32 id;
	__u16 event;
	__u16 value;
} __packed;

static struct uk_alloc *vcon_alloc;
static struct virtqueue *vcon_tx;
static struct virtqueue *vcon_control_tx;
static int vcon_busy;
static char vcon_buffer[VCON_CHUNK] __attribute__((aligned(VCON_CHUNK)));
static char vcon_control_buffers[VCON_CONTROL_BUFFERS][VCON_CONTROL_SIZE]
	__attribute__((aligned(VCON_CONTROL_SIZE)));
static struct uk_sglist vcon_sg;
static struct uk_sglist_seg vcon_segs[2];

static int vcon_transmitted(struct virtqueue *vq __unused, void *priv __unused)
{
	/* Polled, not interrupt-driven. */
	return 0;
}

/* Sends one chunk on `vq` and waits until the device has taken it. */
static int vcon_send(struct virtqueue *vq, const void *buf, unsigned int len)
{
	void *cookie;
	__u32 used;
	int rc;

	__builtin_memcpy(vcon_buffer, buf, len);
	uk_sglist_reset(&vcon_sg);
	rc = uk_sglist_append(&vcon_sg, vcon_buffer, len);
	if (unlikely(rc))
		return rc;
	rc = virtqueue_buffer_enqueue(vq, vcon_buffer, &vcon_sg, 1, 0);
	if (unlikely(rc < 0))
		return rc;
	virtqueue_host_notify(vq);
	while (virtqueue_buffer_dequeue(vq, &cookie, &used) < 0)
		;
	return 0;
}

/* Gives the device buffers for its control messages. */
static int vcon_control_listen(struct virtqueue *vq)
{
	int i, rc;

	for (i = 0; i < VCON_CONTROL_BUFFERS; i++) {
		uk_sglist_reset(&vcon_sg);
		rc = uk_sglist_append(&vcon_sg, vcon_control_buffers[i],
				      VCON_CONTROL_SIZE);
		if (!rc)
			rc = virtqueue_buffer_enqueue(vq, vcon_control_buffers[i],
						      &vcon_sg, 0, 1);
		if (rc < 0)
			return rc;
	}
	virtqueue_host_notify(vq);
	return 0;
}

/* Whether the device announced port `id` (PORT_ADD) on `vq`. */
static int vcon_port_added(struct virtqueue *vq, __u32 id)
{
	struct vcon_control *message;
	void *cookie;
	__u32 len;
	int polls;

	for (polls = 0; polls < VCON_ANSWER_POLLS; polls++) {
		if (virtqueue_buffer_dequeue(vq, &cookie, &len) < 0)
			continue;
		message = cookie;
		if (len >= sizeof(*message) && message->event == VCON_PORT_ADD
		    && message->id == id)
			return 1;
	}
	return 0;
}

static int vcon_control(__u32 id, __u16 event)
{
	struct vcon_control message = { .id = id, .event = event, .value = 1 };

	return vcon_send(vcon_control_tx, &message, sizeof(message));
}

int __wrap_ukplat_coutk(const char *buf, unsigned int len)
{
	unsigned int sent = 0;
	unsigned int chunk;

	if (!vcon_tx || vcon_busy)
		return __real_ukplat_coutk(buf, len);
	vcon_busy = 1;
	while (sent < len) {
		chunk = len - sent < VCON_CHUNK ? len - sent : VCON_CHUNK;
		if (unlikely(vcon_send(vcon_tx, buf + sent, chunk))) {
			vcon_busy = 0;
			return (int)sent + __real_ukplat_coutk(buf + sent,
							       len - sent);
		}
		sent += chunk;
	}
	vcon_busy = 0;
	return (int)len;
}

static struct virtqueue *vcon_queue(struct virtio_dev *vdev, __u16 id,
				    __u16 size)
{
	struct virtqueue *vq;

	vq = virtio_vqueue_setup(vdev, id, size, vcon_transmitted, vcon_alloc);
	if (!PTRISERR(vq))
		virtqueue_intr_disable(vq);
	return vq;
}

static int vcon_add_dev(struct virtio_dev *vdev)
{
	__u16 sizes[VCON_QUEUES];
	struct virtqueue *control, *answers, *data;

	if (vcon_tx)
		return 0; /* one console is enough */
	if (!VIRTIO_FEATURE_HAS(virtio_feature_get(vdev), VCON_F_MULTIPORT))
		goto fail;
	vdev->features = 0;
	VIRTIO_FEATURE_SET(vdev->features, VCON_F_MULTIPORT);
	virtio_feature_set(vdev);
	if (virtio_find_vqs(vdev, VCON_QUEUES, sizes) != VCON_QUEUES)
		goto fail;
	answers = vcon_queue(vdev, VCON_CONTROL_RECEIVE,
			     sizes[VCON_CONTROL_RECEIVE]);
	control = vcon_queue(vdev, VCON_CONTROL_TRANSMIT,
			     sizes[VCON_CONTROL_TRANSMIT]);
	data = vcon_queue(vdev, VCON_TRANSMIT, sizes[VCON_TRANSMIT]);
	if (PTRISERR(answers) || PTRISERR(control) || PTRISERR(data))
		goto fail;
	uk_sglist_init(&vcon_sg, ARRAY_SIZE(vcon_segs), vcon_segs);
	virtio_dev_drv_up(vdev);
	vcon_control_tx = control;
	if (vcon_control_listen(answers) || vcon_control(0, VCON_DEVICE_READY))
		return -EIO;
	/* Without a port 1 (a device with no port, or only a console at
	 * port 0) the output stays on the serial line.
	 */
	if (!vcon_port_added(answers, VCON_PORT))
		return 0;
	if (vcon_control(VCON_PORT, VCON_PORT_READY)
	    || vcon_control(VCON_PORT, VCON_PORT_OPEN))
		return -EIO;
	vcon_tx = data;
	return 0;

fail:
	virtio_dev_status_update(vdev, VIRTIO_CONFIG_STATUS_FAIL);
	return -EINVAL;
}

static int vcon_init(struct uk_alloc *a)
{
	vcon_alloc = a;
	return 0;
}

static const struct virtio_dev_id vcon_ids[] = {
	{VIRTIO_ID_CONSOLE},
	{VIRTIO_ID_INVALID}
};

static struct virtio_driver vcon_driver = {
	.dev_ids = vcon_ids,
	.init = vcon_init,
	.add_dev = vcon_add_dev,
};
VIRTIO_BUS_REGISTER_DRIVER(&vcon_driver);

#else /* !CONFIG_LIBVIRTIO_BUS */

int __wrap_ukplat_coutk(const char *buf, unsigned int len)
{
	return __real_ukplat_coutk(buf, len);
}

#endif /* !CONFIG_LIBVIRTIO_BUS */
