(* Allocates a few hundred MB in total while keeping little alive, so the
   minor and major collectors run many times, then compacts the heap. *)
let () =
  Gc.set { (Gc.get ()) with minor_heap_size = 32768; space_overhead = 80 };
  let window = Array.make 64 [] in
  let checksum = ref 0 in
  for i = 0 to 99_999 do
    (* A 100-element list: 100 cons cells of 3 words, 2.4 KB. *)
    let l = List.init 100 (fun j -> (i * j) land 0xffff) in
    window.(i land 63) <- l;
    checksum := (!checksum + List.fold_left ( + ) 0 l) land 0x3fffffff
  done;
  Gc.compact ();
  let stat = Gc.quick_stat () in
  let allocated_mb = stat.minor_words *. 8. /. 1e6 in
  Printf.printf "checksum: %d\n" !checksum;
  Printf.printf "allocated at least 200 MB: %b\n" (allocated_mb >= 200.);
  Printf.printf "compacted: %b\n" (stat.compactions >= 1);
  Printf.printf "live list in window: %d elements\n"
    (List.length window.(17))
