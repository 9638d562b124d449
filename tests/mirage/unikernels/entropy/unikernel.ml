(* What mirage-crypto-rng seeded itself from at boot, and a draw from it:
   cargo xtask mirage-tests boots this twice, and the two draws must
   differ. *)

let pp_sources =
  Format.pp_print_list
    ~pp_sep:(fun ppf () -> Format.pp_print_string ppf ", ")
    Mirage_crypto_rng.Entropy.pp_source

let hex bytes =
  let buf = Buffer.create (2 * String.length bytes) in
  String.iter (fun c -> Buffer.add_string buf (Printf.sprintf "%02x" (Char.code c))) bytes;
  Buffer.contents buf

let start () =
  Logs.info (fun f ->
      f "entropy sources: %a" pp_sources (Mirage_crypto_rng.Entropy.sources ()));
  Logs.info (fun f -> f "random bytes: %s" (hex (Mirage_crypto_rng.generate 32)));
  Lwt.return_unit
