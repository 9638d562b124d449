(* An ordinary program's memory: lists of 200,000 tuples built 20 times,
   the previous one kept alive while the next is built, a full major
   collection every 5 rounds. Its peak RSS as a Linux program is 28 MB
   (/usr/bin/time -v); it must run in a unikernel at the runner's default
   guest memory, with no option. *)
let () =
  let kept = ref [] in
  let total = ref 0 in
  for round = 1 to 20 do
    let tuples = List.init 200_000 (fun i -> (i, round)) in
    total := !total + List.fold_left (fun sum (i, r) -> sum + (i * r mod 7)) 0 tuples;
    kept := tuples;
    if round mod 5 = 0 then begin
      Gc.full_major ();
      Printf.printf "round %d: %d tuples alive\n%!" round (List.length !kept)
    end
  done;
  Printf.printf "checksum %d\n" !total
