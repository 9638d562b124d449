(* Unix.sleep suspends the program and the clock moves on meanwhile. *)
let () =
  let start = Unix.gettimeofday () in
  print_endline "1";
  for i = 2 to 5 do
    Unix.sleep 1;
    print_endline (string_of_int i)
  done;
  Printf.printf "slept at least 4 s: %b\n" (Unix.gettimeofday () -. start >= 4.)
