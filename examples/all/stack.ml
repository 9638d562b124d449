(* C code called from OCaml runs on the C stack; this stub uses 64 KiB of it. *)
external fill_and_sum : int -> int = "example_fill_and_sum"

let () = Printf.printf "sum over 64 KiB of C stack: %d\n" (fill_and_sum 65536)
