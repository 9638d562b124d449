(* An uncaught exception: the runtime prints it and exits with status 2. *)
let () =
  print_endline "about to raise";
  failwith "deliberate failure"
