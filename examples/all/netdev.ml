(* The first network device through Unikraft's netdev API (netdev_stubs.c):
   its MAC address and MTU, then Ethernet frames of the test's EtherType
   sent back with source and destination addresses swapped, until one whose
   payload starts with "done". The host side of the test sends a frame,
   checks the reply byte for byte, then sends "done" (see README.md).
   Frames of other types are left unanswered; repeated test frames (a host
   that sends again until it gets a reply) are answered without printing.

   Why wait for "done": QEMU transmits a frame some time after the guest
   queued it, and a VM that powers off at once can lose it (two runs in
   fifteen on x86_64 here). *)

external open_device : unit -> string * int = "example_netdev_open"
external receive : unit -> bytes = "example_netdev_receive"
external send : bytes -> unit = "example_netdev_send"

(* IEEE 802 "local experimental" EtherType 1: no protocol uses it. *)
let test_ethertype = 0x88b5

let mac_to_string mac =
  String.concat ":"
    (List.init (String.length mac) (fun i -> Printf.sprintf "%02x" (Char.code mac.[i])))

let rec receive_test_frame () =
  let frame = receive () in
  if Bytes.length frame >= 14 && Bytes.get_uint16_be frame 12 = test_ethertype
  then frame
  else receive_test_frame ()

let is_done frame =
  Bytes.length frame >= 18 && Bytes.sub_string frame 14 4 = "done"

(* The frame with its destination (bytes 0-5) and source (6-11) swapped. *)
let swapped frame =
  let reply = Bytes.copy frame in
  Bytes.blit frame 0 reply 6 6;
  Bytes.blit frame 6 reply 0 6;
  reply

let rec echo ~first =
  let frame = receive_test_frame () in
  if is_done frame then
    Printf.printf "netdev: the host got the reply (%d bytes: done)\n"
      (Bytes.length frame)
  else begin
    if first then
      Printf.printf "netdev: received %d bytes from %s to %s, ethertype 0x%04x\n%!"
        (Bytes.length frame)
        (mac_to_string (Bytes.sub_string frame 6 6))
        (mac_to_string (Bytes.sub_string frame 0 6))
        test_ethertype;
    send (swapped frame);
    if first then
      Printf.printf "netdev: sent them back with source and destination swapped\n%!";
    echo ~first:false
  end

let () =
  let mac, mtu = open_device () in
  Printf.printf "netdev: mac %s, mtu %d\n%!" (mac_to_string mac) mtu;
  echo ~first:true
