(* The standard library's data structures and formatting, printed so that the
   output can be compared with the same program on Linux. *)
module Smap = Map.Make (String)

type record = { name : string; values : float array; nested : int list option }

let () =
  let table = Hashtbl.create 16 in
  List.iter (fun (k, v) -> Hashtbl.replace table k v)
    [ ("one", 1); ("two", 2); ("three", 3); ("two", 22) ];
  let keys = List.sort compare (Hashtbl.fold (fun k _ acc -> k :: acc) table []) in
  Printf.printf "Hashtbl: %d bindings, two -> %d, keys %s\n"
    (Hashtbl.length table) (Hashtbl.find table "two") (String.concat "," keys);

  let map = List.fold_left (fun m w -> Smap.add w (String.length w) m) Smap.empty
      [ "unikernel"; "ocaml"; "musl"; "qemu" ] in
  Smap.iter (fun k v -> Printf.printf "Map: %s -> %d\n" k v) map;

  let value = { name = "sample"; values = [| 1.5; -0.25; 1e300 |];
                nested = Some [ 1; 2; 3 ] } in
  let bytes = Marshal.to_bytes value [] in
  let back : record = Marshal.from_bytes bytes 0 in
  Printf.printf "Marshal: %d bytes, round trip equal: %b (%s, %d floats, %d ints)\n"
    (Bytes.length bytes) (back = value) back.name (Array.length back.values)
    (match back.nested with Some l -> List.length l | None -> 0);

  Printf.printf "floats: %f %.3f %e %g %h %F\n" Float.pi Float.pi 6.02214076e23
    1e-7 0.1 (1. /. 3.);
  Printf.printf "float specials: %f %f %F %.0f\n" Float.infinity Float.neg_infinity
    Float.nan 2.5;
  Printf.printf "float_of_string: %.17g\n" (float_of_string "2.718281828459045");

  let big = Int64.(mul (of_int 0x7fffffff) 0x1_0000_0003L) in
  Printf.printf "Int64: %Ld %Lx %Lu\n" big big (Int64.neg big);
  Printf.printf "Int64 limits: %Ld %Ld\n" Int64.max_int Int64.min_int;

  let b = Bytes.of_string "unikraft" in
  Bytes.set b 0 'U';
  Bytes.blit_string "OCaml" 0 b 3 5;
  Printf.printf "Bytes: %s, %S, hex %s\n" (Bytes.to_string b)
    (Bytes.sub_string b 0 3)
    (String.concat "" (List.map (Printf.sprintf "%02x")
       (List.map Char.code (List.of_seq (Bytes.to_seq (Bytes.sub b 0 4))))))
