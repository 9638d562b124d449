(* Files on the guest's own filesystem: every bundle but the 9pfs ones
   mounts an in-memory root with a /tmp. Creates, renames, lists and
   removes files and a directory under the temporary directory. *)
let () =
  let dir =
    Filename.concat (Filename.get_temp_dir_name ())
      (Printf.sprintf "ocaml-unikraft-files-%d" (Unix.getpid ()))
  in
  Unix.mkdir dir 0o755;
  let path = Filename.concat dir "a.txt" in
  Out_channel.with_open_text path (fun oc -> output_string oc "written\n");
  let moved = Filename.concat dir "b.txt" in
  Sys.rename path moved;
  Printf.printf "after rename: %s\n" (String.concat " " (Array.to_list (Sys.readdir dir)));
  print_string (In_channel.with_open_text moved In_channel.input_all);
  let temp = Filename.temp_file ~temp_dir:dir "tmp" ".dat" in
  Out_channel.with_open_bin temp (fun oc -> Marshal.to_channel oc [ 1; 2; 3 ] []);
  let back : int list = In_channel.with_open_bin temp Marshal.from_channel in
  Printf.printf "marshalled through a temporary file: %s\n"
    (String.concat "," (List.map string_of_int back));
  Sys.remove temp;
  Sys.remove moved;
  Printf.printf "exists after remove: %b\n" (Sys.file_exists moved);
  Unix.rmdir dir;
  Printf.printf "directory removed: %b\n" (not (Sys.file_exists dir))
