let () =
  Printf.printf "Hello from OCaml %s on Unikraft (%s, %d-bit)\n"
    Sys.ocaml_version Sys.os_type Sys.word_size
