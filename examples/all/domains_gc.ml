(* Domains that spawn, collect and end while others run the GC: three
   domains spawned while the main one runs Gc.major, four more joined, a
   full major collection, four more; five domains filling their minor heaps
   at once; a finaliser registered in a domain that then ends. Each of
   these hung the guest for good before (OCaml's testsuite: domain_dls,
   tak, finaliser2). *)
let work () =
  let l = List.init 50_000 (fun i -> (i, string_of_int i)) in
  Gc.major ();
  List.length l

let () =
  let first = Array.init 3 (fun _ -> Domain.spawn work) in
  let own = work () in
  let total = Array.fold_left (fun acc d -> acc + Domain.join d) own first in
  Printf.printf "3 domains spawned during Gc.major: %d\n" total;
  let reused = Array.init 4 (fun _ -> Domain.spawn work) in
  Array.iter (fun d -> ignore (Domain.join d)) reused;
  Gc.full_major ();
  let again = Array.init 4 (fun _ -> Domain.spawn work) in
  Printf.printf "4 more after a full major: %d\n"
    (Array.fold_left (fun acc d -> acc + Domain.join d) 0 again);
  let rec tak x y z = if x > y then tak (tak (x - 1) y z) (tak (y - 1) z x) (tak (z - 1) x y) else z in
  let fill () = List.length (List.init 200_000 (fun i -> ref (tak 6 4 2 + i))) in
  let five = Array.init 5 (fun _ -> Domain.spawn fill) in
  Printf.printf "5 domains filling their minor heaps: %d\n"
    (Array.fold_left (fun acc d -> acc + Domain.join d) 0 five);
  let finalised = Atomic.make false in
  Domain.join (Domain.spawn (fun () -> Gc.finalise (fun _ -> Atomic.set finalised true) (ref 0)));
  Gc.full_major ();
  Gc.full_major ();
  Printf.printf "finaliser of an ended domain ran: %b\n" (Atomic.get finalised)
