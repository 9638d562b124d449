(* Random.self_init seeds from the system (Unikraft has no /dev/urandom by
   default); a fixed seed must give the same numbers as on Linux. *)
let () =
  Random.self_init ();
  let draws = List.init 1000 (fun _ -> Random.int 1000) in
  Printf.printf "self_init: 1000 draws in range: %b, not all equal: %b\n"
    (List.for_all (fun x -> x >= 0 && x < 1000) draws)
    (List.exists (fun x -> x <> List.hd draws) draws);
  Random.init 42;
  let fixed = List.init 5 (fun _ -> Random.int 1_000_000) in
  Printf.printf "init 42: %s\n" (String.concat " " (List.map string_of_int fixed))
