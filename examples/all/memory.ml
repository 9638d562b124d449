(* An ordinary program's memory: lists of 200,000 tuples built 40 times,
   the last three kept alive, a full major collection every 10 rounds. Its
   peak RSS as a Linux program is about 40 MB; it must run in a unikernel
   at run's default guest memory, with no option. *)
let () =
  let kept = ref [] in
  let total = ref 0 in
  for round = 1 to 40 do
    let tuples = List.init 200_000 (fun i -> (i, round)) in
    kept := tuples :: (match !kept with a :: b :: _ -> [ a; b ] | short -> short);
    total := !total + List.fold_left (fun sum (i, r) -> sum + ((i * r) mod 7)) 0 tuples;
    if round mod 10 = 0 then begin
      Gc.full_major ();
      Printf.printf "round %d: %d lists alive\n%!" round (List.length !kept)
    end
  done;
  Printf.printf "checksum %d\n" !total
