(* Twelve domains alive at once, each sleeping: more than a runtime limited
   to a few domains (as ours was before the bundles paged memory on demand)
   can hold. Unikraft's process library allows 31 threads and each domain
   takes two (its own and its backup thread), so about 15 is the most. *)
let () =
  let sleepers =
    List.init 12 (fun i ->
        Domain.spawn (fun () ->
            Unix.sleepf 0.1;
            i))
  in
  let joined = List.fold_left (fun acc d -> acc + Domain.join d) 0 sleepers in
  Printf.printf "12 domains alive at once, joined: %d\n" joined
