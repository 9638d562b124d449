(* The first block device through Unikraft's blkdev API (blkdev_stubs.c).
   The test gives the guest a 1 MiB raw disk whose byte at offset i is
   (7 i + i / 512) mod 256; this reads the first 8 sectors, prints their
   checksum, checks the pattern, then writes sector 8 with a line of text
   repeated and reads it back. The test checks sector 8 of the file once the
   VM has ended (see README.md). *)

external open_device : unit -> int * int = "example_blkdev_open"
external read : int -> int -> bytes = "example_blkdev_read"
external write : int -> bytes -> unit = "example_blkdev_write"
external close_device : unit -> unit = "example_blkdev_close"

(* FNV-1a, 32 bits. *)
let fnv1a data =
  let hash = ref 0x811c9dc5 in
  Bytes.iter
    (fun c -> hash := (!hash lxor Char.code c) * 0x01000193 land 0xffffffff)
    data;
  !hash

let test_pattern offset = (7 * offset + offset / 512) land 0xff

let () =
  let sectors, sector_size = open_device () in
  Printf.printf "blkdev: %d sectors of %d bytes\n%!" sectors sector_size;
  let data = read 0 8 in
  Printf.printf "blkdev: sectors 0-7: %d bytes, fnv1a %08x\n%!"
    (Bytes.length data) (fnv1a data);
  let pattern = ref true in
  Bytes.iteri (fun i c -> if Char.code c <> test_pattern i then pattern := false) data;
  Printf.printf "blkdev: they %s the test pattern\n%!"
    (if !pattern then "hold" else "do not hold");
  let line = "ocaml-unikraft wrote sector 8\n" in
  let sector =
    Bytes.init sector_size (fun i -> line.[i mod String.length line])
  in
  write 8 sector;
  let back = read 8 1 in
  Printf.printf "blkdev: wrote sector 8 (fnv1a %08x), read back %s\n%!"
    (fnv1a sector)
    (if Bytes.equal back sector then "the same" else "something else");
  close_device ()
