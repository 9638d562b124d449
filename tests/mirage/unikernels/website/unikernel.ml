open Lwt.Infix

let port name default doc =
  Mirage_runtime.register_arg
    Cmdliner.Arg.(value & opt int default & info ~doc [ name ])

let http_port = port "http" 8080 "The plain HTTP port."
let https_port = port "https" 8443 "The HTTPS port."

module Make
    (Pages : Mirage_kv.RO)
    (Keys : Mirage_kv.RO)
    (Http : Cohttp_mirage.Server.S) =
struct
  module X509 = Tls_mirage.X509 (Keys)

  (* The page at [path] ("/" is index.html), or a 404. *)
  let page pages path =
    let path = if path = "" || path = "/" then "index.html" else path in
    Pages.get pages (Mirage_kv.Key.v path) >>= function
    | Ok body ->
        let headers =
          Cohttp.Header.init_with "content-type" (Magic_mime.lookup path)
        in
        Http.respond_string ~status:`OK ~headers ~body ()
    | Error _ -> Http.respond_not_found ()

  let start pages keys http =
    X509.certificate keys `Default >>= fun certificate ->
    let tls =
      match Tls.Config.server ~certificates:(`Single certificate) () with
      | Ok config -> config
      | Error (`Msg msg) -> failwith msg
    in
    let callback _connection request _body =
      page pages (Uri.path (Cohttp.Request.uri request))
    in
    let site = Http.make ~callback () in
    Logs.info (fun m ->
        m "serving on %d/TCP (HTTP) and %d/TCP (HTTPS)" (http_port ())
          (https_port ()));
    Lwt.join
      [ http (`TCP (http_port ())) site;
        http (`TLS (tls, `TCP (https_port ()))) site ]
end
