open Lwt.Infix

let server =
  Mirage_runtime.register_arg
    Cmdliner.Arg.(
      required
      & opt (some string) None
      & info ~doc:"The web server's IPv4 address." [ "server" ])

let port =
  Mirage_runtime.register_arg
    Cmdliner.Arg.(
      value & opt int 8080 & info ~doc:"The web server's TCP port." [ "port" ])

(* Printed around the response, so that the test finds it among the logs. *)
let first_mark = "--- response begins ---"
let last_mark = "--- response ends ---"

module Make (Stack : Tcpip.Stack.V4V6) = struct
  module Tcp = Stack.TCP

  let fail fmt = Fmt.kstr failwith fmt

  (* Everything the server sends until it closes the connection. *)
  let rec read_all flow chunks =
    Tcp.read flow >>= function
    | Ok (`Data data) -> read_all flow (Cstruct.to_string data :: chunks)
    | Ok `Eof -> Lwt.return (String.concat "" (List.rev chunks))
    | Error e -> fail "reading the response: %a" Tcp.pp_error e

  let start stack =
    let address = Ipaddr.of_string_exn (server ()) in
    Logs.info (fun m -> m "asking %a:%d for /" Ipaddr.pp address (port ()));
    Tcp.create_connection (Stack.tcp stack) (address, port ()) >>= function
    | Error e -> fail "connecting: %a" Tcp.pp_error e
    | Ok flow -> (
        let request =
          Printf.sprintf "GET / HTTP/1.0\r\nHost: %s\r\n\r\n" (server ())
        in
        Tcp.write flow (Cstruct.of_string request) >>= function
        | Error e -> fail "sending the request: %a" Tcp.pp_write_error e
        | Ok () ->
            read_all flow [] >>= fun response ->
            Tcp.close flow >|= fun () ->
            Printf.printf "%s\n%s\n%s\n%!" first_mark response last_mark)
end
