/* A program that crashes the unikernel: a write through a null pointer.
 * `cargo xtask localtests` boots it on every bundle and expects a crash to
 * be reported as one (no exit status from the guest), never as success. */
#include <stdio.h>

int main(void)
{
	volatile int *nowhere = 0;

	printf("about to write through a null pointer\n");
	fflush(stdout);
	*nowhere = 1;
	printf("still running: the write did not fault\n");
	return 0;
}
