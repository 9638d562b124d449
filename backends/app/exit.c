/* Ending the unikernel when the program exits.
 *
 * exit() in musl ends in the exit_group system call. Unikraft 0.17's
 * exit_group kills every thread of the process, including the one that
 * would power the machine off, so the VM hangs and the status is lost
 * (OCaml programs always leave through exit(), even after a normal end).
 * The final link wraps it (-Wl,--wrap=uk_syscall_r_exit_group, see
 * Makefile.uk) so that this function runs instead: it reports the status
 * on the console, then powers off.
 *
 * The console is the only channel every VMM has (QEMU's isa-debug-exit
 * exists on x86 only and carries 7 bits; Firecracker has nothing else), so
 * the last line a program leaves is
 *
 *     ocaml-unikraft: exit status N boot=TOKEN
 *
 * with N in 0..255 as on Linux. TOKEN is the library parameter
 * `libocamlexit.token`, which `cargo xtask run` sets to a fresh random value
 * on every boot (kernel command line `libocamlexit.token=TOKEN -- ARGS`):
 * Unikraft's libparam takes what precedes `--` and never hands it to the
 * program's argv, so a program that prints a status line of its own cannot
 * know the token and cannot fake its status. `run` turns the line into its
 * own exit status and strips it; a VM that stops without it has crashed.
 * Booted by hand without a token, the line ends after N.
 *
 * Unikraft's boot code drops the value main returns and powers off without
 * calling exit(), so a C program that returns from main would leave no
 * status (nor flush its stdio buffers): main is wrapped too
 * (-Wl,--wrap=main), and its result goes to exit() as in a hosted C
 * program. OCaml's main never returns; it calls exit() itself.
 *
 * The bundle's features are written into every image as a string that
 * stays in the stripped image, for ocaml-unikraft-run to read (see
 * toolchain/src/boot/image.rs): `ocaml-unikraft-features:` then, for each
 * feature, a space and its name, then `;`. `9pfs`: the guest mounts the
 * host directory shared with virtio-9p tag fs0 at / during boot, so it
 * needs `run --share DIR` (without the device the boot stops before main),
 * and only such an image can use one. `vconsole`: the image sends its
 * console output over a virtio-console device when it has one (console.c).
 *
 * This lives in a library of its own, not in the placeholder application:
 * the application object is replaced by the user's objects at link time,
 * every library object stays. */
#include <stdlib.h>
#include <uk/config.h>
#include <uk/libparam.h>
#include <uk/plat/bootstrap.h>
#include <uk/plat/console.h>

#define STATUS_LINE "ocaml-unikraft: exit status "
#define TOKEN_FIELD " boot="
/* Tokens longer than this are cut (run's are 32 hex digits). */
#define TOKEN_MAX 64

__attribute__((used)) static const char features[] =
	"ocaml-unikraft-features:"
#if CONFIG_LIBVFSCORE_AUTOMOUNT_CI_9PFS && CONFIG_LIBVIRTIO_9P
	" 9pfs"
#endif
#if CONFIG_LIBVIRTIO_BUS
	" vconsole"
#endif
	";";

static char *token;
UK_LIBPARAM_PARAM(token, charp, "per-boot token that marks the genuine status line");

long __wrap_uk_syscall_r_exit_group(long status);
int __real_main(int argc, char *argv[]);
int __wrap_main(int argc, char *argv[]);

int __wrap_main(int argc, char *argv[])
{
	exit(__real_main(argc, argv));
}

long __wrap_uk_syscall_r_exit_group(long status)
{
	/* Linux keeps the low 8 bits, so does this. */
	unsigned int code = (unsigned int)status & 0xff;
	char line[sizeof(STATUS_LINE) + 3 + sizeof(TOKEN_FIELD) + TOKEN_MAX + 1];
	unsigned int len = sizeof(STATUS_LINE) - 1;
	unsigned int divisor;
	unsigned int i;

	__builtin_memcpy(line, STATUS_LINE, len);
	for (divisor = 100; divisor > 1 && code < divisor; divisor /= 10)
		;
	for (; divisor > 0; divisor /= 10)
		line[len++] = (char)('0' + code / divisor % 10);
	if (token) {
		__builtin_memcpy(line + len, TOKEN_FIELD, sizeof(TOKEN_FIELD) - 1);
		len += sizeof(TOKEN_FIELD) - 1;
		for (i = 0; i < TOKEN_MAX && token[i]; i++)
			line[len++] = token[i];
	}
	line[len++] = '\n';
	ukplat_coutk(line, len);

	ukplat_terminate(UKPLAT_HALT);
}
