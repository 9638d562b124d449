(* Signals a program sends itself, as on Linux: the handler runs before
   kill returns; a blocked signal waits until it is unblocked; an ignored
   one is dropped; a signal whose default action ends the program ends it
   with status 128 + its number. *)
let received = ref []

let () =
  Sys.set_signal Sys.sighup (Sys.Signal_handle (fun s -> received := s :: !received));
  Unix.kill (Unix.getpid ()) Sys.sighup;
  Printf.printf "after kill of our pid: handled %d time(s)\n" (List.length !received);
  ignore (Unix.sigprocmask Unix.SIG_BLOCK [ Sys.sighup ]);
  Unix.kill (Unix.getpid ()) Sys.sighup;
  Printf.printf "blocked: pending %b, handled %d time(s)\n"
    (List.mem Sys.sighup (Unix.sigpending ()))
    (List.length !received);
  ignore (Unix.sigprocmask Unix.SIG_UNBLOCK [ Sys.sighup ]);
  Printf.printf "unblocked: handled %d time(s)\n" (List.length !received);
  Sys.set_signal Sys.sigusr1 Sys.Signal_ignore;
  Unix.kill (Unix.getpid ()) Sys.sigusr1;
  print_endline "ignored SIGUSR1";
  (match Unix.kill 99_999_999 Sys.sighup with
   | () -> print_endline "kill of another pid: no error"
   | exception Unix.Unix_error (e, _, _) ->
       Printf.printf "kill of another pid: %s\n" (Unix.error_message e));
  (* What the signal ends is gone with the program: flush first. *)
  flush stdout;
  Sys.set_signal Sys.sigterm Sys.Signal_default;
  Unix.kill (Unix.getpid ()) Sys.sigterm;
  print_endline "not reached"
