(* A pipe used as OCaml channels: written through an out_channel, read back
   through an in_channel on the other end. *)
let () =
  let r, w = Unix.pipe () in
  let oc = Unix.out_channel_of_descr w and ic = Unix.in_channel_of_descr r in
  output_string oc "through the pipe\n";
  close_out oc;
  print_string (In_channel.input_all ic);
  Printf.printf "a pipe end is a FIFO: %b\n" ((Unix.fstat r).st_kind = Unix.S_FIFO)
