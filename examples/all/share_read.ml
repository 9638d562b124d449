(* Files in the directory the host shares: a 9pfs bundle mounts it at /
   during boot, which is also the current directory (on Linux the test runs
   the program in that directory). The test writes share_read.txt, a line
   then 64 KiB of a byte pattern; this reads it whole, checks the directory
   lists it, and writes share_write.txt, which the test checks once the
   program has ended (see README.md). *)

(* FNV-1a, 32 bits. *)
let fnv1a data =
  let hash = ref 0x811c9dc5 in
  String.iter
    (fun c -> hash := (!hash lxor Char.code c) * 0x01000193 land 0xffffffff)
    data;
  !hash

let () =
  let ic = open_in_bin "share_read.txt" in
  let text = really_input_string ic (in_channel_length ic) in
  close_in ic;
  Printf.printf "share_read: share_read.txt is %d bytes, fnv1a %08x\n"
    (String.length text) (fnv1a text);
  Printf.printf "share_read: its first line: %s\n"
    (List.hd (String.split_on_char '\n' text));
  Printf.printf "share_read: the directory lists it: %b\n"
    (Array.mem "share_read.txt" (Sys.readdir "."));
  let line = "written by the guest\n" in
  let oc = open_out_bin "share_write.txt" in
  for _ = 1 to 1000 do
    output_string oc line
  done;
  close_out oc;
  Printf.printf "share_read: wrote share_write.txt (%d bytes)\n"
    (1000 * String.length line)
