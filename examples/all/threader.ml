(* Two system threads take turns: "a" prints on whole seconds, "b" half a
   second later, each sleeping one second between lines. *)
let worker name delay () =
  Unix.sleepf delay;
  for i = 1 to 3 do
    Printf.printf "%s %d\n%!" name i;
    Unix.sleepf 1.0
  done

let () =
  let a = Thread.create (worker "a" 0.0) () in
  let b = Thread.create (worker "b" 0.5) () in
  Thread.join a;
  Thread.join b;
  print_endline "both threads joined"
