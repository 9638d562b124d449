(* Domain.spawn on Unikraft: the runtime is built for at most 4 domains (the
   main one and 3 spawned) and the guest has one CPU, so domains run in turn. *)
let sum_to n =
  let s = ref 0 in
  for i = 1 to n do
    s := !s + i
  done;
  !s

let () =
  let domains = List.map (fun n -> Domain.spawn (fun () -> sum_to n)) [ 1000; 2000; 3000 ] in
  let results = List.map Domain.join domains in
  Printf.printf "3 domains joined: %s\n"
    (String.concat " " (List.map string_of_int results));
  Printf.printf "main domain: %d\n" (sum_to 4000)
