(* Domain.spawn on Unikraft: the guest has one CPU, so domains take turns.
   The domains allocate (so minor collections stop every domain) and one
   sleeps while the others work. *)
let sum_of_list n = List.fold_left ( + ) 0 (List.init n Fun.id)

let () =
  let sleeper =
    Domain.spawn (fun () ->
        Unix.sleepf 0.2;
        "slept")
  in
  let workers =
    List.map (fun n -> Domain.spawn (fun () -> sum_of_list n)) [ 200_000; 300_000 ]
  in
  let sums = List.map Domain.join workers in
  Printf.printf "2 allocating domains joined: %s\n"
    (String.concat " " (List.map string_of_int sums));
  Printf.printf "sleeping domain joined: %s\n" (Domain.join sleeper);
  Printf.printf "main domain: %d\n" (sum_of_list 400_000)
