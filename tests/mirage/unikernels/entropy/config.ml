(* mirage >= 4.11.0 & < 4.12.0 *)
open Mirage

(* No device of its own: the default ones seed mirage-crypto-rng's
   default generator before start runs. *)
let main = main "Unikernel" job ~packages:[ package "mirage-crypto-rng" ]
let () = register "entropy" [ main ]
