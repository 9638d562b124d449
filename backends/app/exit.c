/* Ending the unikernel when the program exits.
 *
 * exit() in musl ends in the exit_group system call. Unikraft 0.17's
 * exit_group kills every thread of the process, including the one that
 * would power the machine off, so the VM hangs and the status is lost
 * (OCaml programs always leave through exit(), even after a normal end).
 * The final link wraps it (-Wl,--wrap=uk_syscall_r_exit_group, see
 * Makefile.uk) so that this function runs instead: it hands a non-zero
 * status to the VMM where the VMM can take one, then powers off.
 *
 * This lives in a library of its own, not in the placeholder application:
 * the application object is replaced by the user's objects at link time,
 * every library object stays. */
#include <uk/plat/bootstrap.h>

long __wrap_uk_syscall_r_exit_group(long status);

long __wrap_uk_syscall_r_exit_group(long status)
{
#if defined(__x86_64__)
	/* QEMU's isa-debug-exit device (port 0x501, when present) makes QEMU
	 * exit with (value << 1) | 1; without it the write is ignored. */
	if (status != 0)
		__asm__ __volatile__("outb %b0, %w1"
				     :
				     : "a"((unsigned char)status),
				       "Nd"((unsigned short)0x501));
#endif
	ukplat_terminate(UKPLAT_HALT);
}
