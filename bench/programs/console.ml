(* Console throughput: prints LINES lines (first argument, default 80,000)
   of 100 bytes each with print_string, as a chatty program does, and
   nothing else. `cargo xtask bench` times it through the runner and as a
   Linux program. *)
let () =
  let lines = if Array.length Sys.argv > 1 then int_of_string Sys.argv.(1) else 80_000 in
  let line = String.make 99 'x' ^ "\n" in
  for _ = 1 to lines do
    print_string line
  done
