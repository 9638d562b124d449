(* Few, large allocations: a 192 MiB Bigarray and a 64 MiB Bytes, every
   page written. Its peak RSS as a Linux program is about 260 MB; it must
   run in the runner's default 512 MiB guest (the allocator rounds a block
   up to a power of two: Unikraft patch 0007 makes that cost address
   space, not memory). *)
let mib = 1024 * 1024

let () =
  let open Bigarray in
  let big = Array1.create char c_layout (192 * mib) in
  Array1.fill big 'b';
  let bytes = Bytes.make (64 * mib) 'y' in
  let sum = ref 0 in
  for i = 0 to (192 * mib / 4096) - 1 do
    sum := !sum + Char.code (Array1.unsafe_get big (i * 4096))
  done;
  for i = 0 to (64 * mib / 4096) - 1 do
    sum := !sum + Char.code (Bytes.unsafe_get bytes (i * 4096))
  done;
  Printf.printf "256 MiB in two blocks, one byte a page: %d\n" !sum
