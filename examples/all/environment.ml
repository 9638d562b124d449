(* Environment variables given at launch (environment.env; the runner's
   --env, Unikraft's env.vars parameter) reach Sys.getenv, values with
   spaces and empty ones included. *)
let show name =
  match Sys.getenv_opt name with
  | Some value -> Printf.printf "%s=%S\n" name value
  | None -> Printf.printf "%s is not set\n" name

let () = List.iter show [ "GREETING"; "EMPTY"; "LAST"; "MISSING" ]
