(* mirage >= 4.11.0 & < 4.12.0 *)
open Mirage

(* A client of the website on a real network: mirage-tests boots it on a
   bridge beside the website unikernel, gives it the website's address, and
   checks the page it prints. *)
let stack = generic_stackv4v6 default_network
let main = main "Unikernel.Make" (stackv4v6 @-> job)
let () = register "fetch" [ main $ stack ]
