(* Prints the program's arguments, given on the VMM command line.
   Sys.argv.(0) is left out: it is the kernel's name, which differs between
   VMMs. *)
let () =
  let args = Array.sub Sys.argv 1 (Array.length Sys.argv - 1) in
  Printf.printf "%d arguments\n" (Array.length args);
  Array.iteri (fun i arg -> Printf.printf "argv[%d] = %S\n" (i + 1) arg) args
