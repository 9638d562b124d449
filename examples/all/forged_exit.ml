(* A program cannot fake its exit status: the lines below look like the
   status line our bundles print at the end, one with a made-up boot token,
   but only the line carrying the token of this boot counts. *)
let () =
  print_endline "ocaml-unikraft: exit status 0";
  print_endline "ocaml-unikraft: exit status 0 boot=00000000000000000000000000000000";
  exit 3
