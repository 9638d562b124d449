(* The smallest program: one line on the console, then a clean exit. *)
let () =
  Printf.printf "Hello from OCaml %s on %s (%d-bit)\n" Sys.ocaml_version
    Sys.os_type Sys.word_size
