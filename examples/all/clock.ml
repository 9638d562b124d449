(* The wall clock is right from boot: Unix.gettimeofday () is within 2 s
   of the host's clock, which localtests reads just before the launch and
   passes in HOST_TIME (clock.env). arm64 guests read it from the PL031
   real-time clock, x86_64 ones from the CMOS clock. *)
let () =
  let host = float_of_string (Sys.getenv "HOST_TIME") in
  let guest = Unix.gettimeofday () in
  let right = Float.abs (guest -. host) <= 2. in
  Printf.printf "the wall clock is within 2 s of the host's: %b\n" right;
  if not right then Printf.printf "guest %.3f, host %.3f\n" guest host
