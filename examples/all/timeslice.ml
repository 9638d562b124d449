(* A thread that computes does not keep the others from running: the ticker
   thread wakes up three times while the main thread allocates in a loop
   (which gives up after 5 s if the ticker never gets the CPU). *)
let () =
  let ticks = Atomic.make 0 in
  let ticker =
    Thread.create
      (fun () ->
        for _ = 1 to 3 do
          Thread.delay 0.1;
          Atomic.incr ticks
        done)
      ()
  in
  let start = Unix.gettimeofday () in
  let garbage = ref [] in
  while Atomic.get ticks < 3 && Unix.gettimeofday () -. start < 5.0 do
    garbage := List.init 100 Fun.id :: !garbage;
    if List.length !garbage > 100 then garbage := []
  done;
  Printf.printf "ticker ran 3 times while the main thread computed: %b\n"
    (Atomic.get ticks = 3);
  Thread.join ticker
