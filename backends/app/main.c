/* Placeholder application of the ocaml-unikraft backend bundle.
 *
 * The bundle is built once per (platform, arch, options) combination only to
 * obtain compiled Unikraft and musl objects plus the exact compile and link
 * commands.  When an OCaml program is linked, this object is replaced by the
 * program's own objects, so nothing here ends up in a user's unikernel. */
#include <stdio.h>

int main(int argc, char *argv[])
{
	(void)argc;
	(void)argv;
	printf("ocamlbundle: placeholder main\n");
	return 0;
}
