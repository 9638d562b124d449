/* Uses `size` bytes (at most 64 KiB) of C stack: fills a local array and
 * sums it back, so the compiler cannot shrink the array away. */
#include <caml/mlvalues.h>

#define MAX_SIZE 65536

value example_fill_and_sum(value size)
{
	volatile unsigned char buffer[MAX_SIZE];
	long n = Long_val(size) < MAX_SIZE ? Long_val(size) : MAX_SIZE;
	long sum = 0;
	long i;

	for (i = 0; i < n; i++)
		buffer[i] = (unsigned char)(i * 7);
	for (i = 0; i < n; i++)
		sum += buffer[i];
	return Val_long(sum);
}
