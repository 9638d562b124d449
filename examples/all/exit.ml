(* exit n must reach the host as status n. *)
let () =
  print_endline "exiting with status 3";
  exit 3
