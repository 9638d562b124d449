(* Mutex errors as on Linux: try_lock of a mutex held (by this thread or
   another) is false, locking it again or unlocking one held by nobody or
   by another thread raises Sys_error. *)
let show what f =
  match f () with
  | v -> Printf.printf "%s: %b\n" what v
  (* The message is the C library's (glibc and musl word EDEADLK apart). *)
  | exception Sys_error _ -> Printf.printf "%s: Sys_error\n" what

let () =
  let m = Mutex.create () in
  show "try_lock of a free mutex" (fun () -> Mutex.try_lock m);
  show "try_lock of a mutex we hold" (fun () -> Mutex.try_lock m);
  show "lock of a mutex we hold" (fun () -> Mutex.lock m; true);
  Mutex.unlock m;
  show "unlock of a free mutex" (fun () -> Mutex.unlock m; true);
  let held = Mutex.create () and release = Mutex.create () in
  Mutex.lock release;
  let other = Thread.create (fun () -> Mutex.lock held; Mutex.lock release; Mutex.unlock held; Mutex.unlock release) () in
  (* Wait for the other thread to hold it (sleeping, so it can run). *)
  while Mutex.try_lock held do
    Mutex.unlock held;
    Thread.delay 0.001
  done;
  show "try_lock of a mutex another thread holds" (fun () -> Mutex.try_lock held);
  show "unlock of a mutex another thread holds" (fun () -> Mutex.unlock held; true);
  Mutex.unlock release;
  Thread.join other;
  show "try_lock once the other thread is done" (fun () -> Mutex.try_lock held)
