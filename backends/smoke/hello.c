/* Smoke test of a backend bundle: linked by the installed C driver and
 * booted by `cargo xtask localtests`. It exercises what OCaml's runtime
 * relies on first: stdio on the console, argv, malloc, and a C stack
 * deeper than Unikraft's default 64 KiB (OCaml's Unix.read puts 64 KiB on
 * it). The expected console output is hello.expected. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Touches `kib` KiB of stack; the volatile sum keeps it from being elided. */
static int use_stack(int kib)
{
	volatile unsigned char buffer[1024];
	memset((unsigned char *)buffer, kib & 0xff, sizeof(buffer));
	return kib == 0 ? buffer[0] : buffer[1] + use_stack(kib - 1);
}

int main(int argc, char *argv[])
{
	char *heap = malloc(1 << 20);

	printf("hello from C on unikraft\n");
	printf("argc=%d\n", argc);
	if (!heap) {
		printf("malloc failed\n");
		return 1;
	}
	memset(heap, 1, 1 << 20);
	free(heap);
	printf("malloc ok\n");
	printf("stack sum=%d\n", use_stack(160));
	return 0;
}
