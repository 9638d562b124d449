(* The program localtests debugs: gdb stops it in [greet] and reads the
   OCaml frames of its backtrace. *)

let[@inline never] rec countdown n =
  if n = 0 then print_endline "liftoff" else countdown (n - 1)

let[@inline never] greet name =
  Printf.printf "hello %s\n%!" name;
  countdown 3

let () = greet "debugger"
