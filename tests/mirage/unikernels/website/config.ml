(* mirage >= 4.11.0 & < 4.12.0 *)
open Mirage

(* One website over plain HTTP and over HTTPS at once, from one image and
   one request handler, so that what TLS costs can be measured alone
   (`cargo xtask bench`). mirage-tests puts the pages in htdocs/ and a
   certificate of its own in tls/ before it builds. *)
let stack = generic_stackv4v6 default_network
let server = cohttp_server @@ conduit_direct ~tls:true stack

let main =
  main "Unikernel.Make"
    ~packages:[ package "uri"; package "magic-mime" ]
    (kv_ro @-> kv_ro @-> http @-> job)

let () = register "website" [ main $ crunch "htdocs" $ crunch "tls" $ server ]
