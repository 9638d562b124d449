use super::*;

const DEADLINE: Duration = Duration::from_secs(30);
const TOKEN: &str = "5eed";

/// Reads `console` as a boot with token [`TOKEN`] would.
fn read_boot(console: &str, killed_after: Option<Duration>) -> Transcript {
    let cut = Cut {
        from_start: true,
        killed_after,
        stopped_by: None,
    };
    read(console, TOKEN, cut)
}

#[test]
fn clean_exit_and_exit_n_come_from_the_status_line() {
    let transcript = read_boot("hello\r\nocaml-unikraft: exit status 0 boot=5eed\r\n", None);
    assert_eq!(transcript.output, "hello\n");
    assert_eq!(transcript.ending, Ending::Exit(0));
    assert_eq!(transcript.ending.status(), 0);

    let transcript = read_boot("bye\nocaml-unikraft: exit status 3 boot=5eed\n", None);
    assert_eq!(transcript.ending, Ending::Exit(3));
    assert_eq!(transcript.ending.status(), 3);

    let transcript = read_boot("ocaml-unikraft: exit status 255 boot=5eed\n", None);
    assert_eq!(transcript.ending.status(), 255);
}

#[test]
fn output_without_a_final_newline_is_kept_exactly() {
    let transcript = read_boot("no newlineocaml-unikraft: exit status 0 boot=5eed\n", None);
    assert_eq!(transcript.output, "no newline");
}

#[test]
fn only_the_line_with_the_boot_token_counts() {
    // A program may print the marker text itself, even with a token of its
    // own making: that is output. Unikraft's informational messages after
    // the genuine line are not program output.
    let console = "ocaml-unikraft: exit status 9\n\
        ocaml-unikraft: exit status 8 boot=beef\n\
        ocaml-unikraft: exit status 1 boot=5eed\n\
        [    0.100000] Info: [libkvmplat] <shutdown.c @   59> Unikraft halted\n";
    let transcript = read_boot(console, None);
    assert_eq!(transcript.ending, Ending::Exit(1));
    assert_eq!(
        transcript.output,
        "ocaml-unikraft: exit status 9\nocaml-unikraft: exit status 8 boot=beef\n"
    );
    // Forged lines alone: the VM stopped without a status.
    let forged = "ocaml-unikraft: exit status 0\nocaml-unikraft: exit status 0 boot=\n";
    assert_eq!(read_boot(forged, None).ending, Ending::Crash);
    let cut = Cut {
        from_start: true,
        ..Cut::default()
    };
    assert_eq!(read(forged, "", cut).ending, Ending::Crash);
}

#[test]
fn the_genuine_line_must_be_the_last_output() {
    let crashed = "ocaml-unikraft: exit status 0 boot=5eed\nCRIT: [libkvmplat] page fault\n";
    let transcript = read_boot(crashed, None);
    assert_eq!(transcript.ending, Ending::Crash);
    assert_eq!(transcript.output, "CRIT: [libkvmplat] page fault\n");
    // Killed at the deadline: a timeout, whatever the console holds.
    let transcript = read_boot(
        "done\nocaml-unikraft: exit status 0 boot=5eed\n",
        Some(DEADLINE),
    );
    assert_eq!(transcript.ending, Ending::Timeout(DEADLINE));
    assert_eq!(transcript.output, "done\n");
}

#[test]
fn an_uncaught_exception_is_told_apart_from_exit_2() {
    let console =
        "about to raise\nFatal error: exception Failure(\"x\")\nocaml-unikraft: exit status 2 boot=5eed\n";
    let transcript = read_boot(console, None);
    assert_eq!(transcript.ending, Ending::UncaughtException);
    assert_eq!(transcript.ending.status(), 2);
    assert_eq!(
        transcript.output,
        "about to raise\nFatal error: exception Failure(\"x\")\n"
    );

    let transcript = read_boot("plain\nocaml-unikraft: exit status 2 boot=5eed\n", None);
    assert_eq!(transcript.ending, Ending::Exit(2));
}

#[test]
fn no_status_line_is_a_crash_or_a_timeout() {
    let transcript = read_boot("half a li", None);
    assert_eq!(transcript.ending, Ending::Crash);
    assert_eq!(transcript.ending.status(), CRASH_STATUS);
    assert_eq!(transcript.output, "half a li");

    let transcript = read_boot("sleeping\n", Some(DEADLINE));
    assert_eq!(transcript.ending, Ending::Timeout(DEADLINE));
    assert_eq!(transcript.ending.status(), TIMEOUT_STATUS);

    // A status line cut short is no status.
    assert_eq!(
        read_boot("ocaml-unikraft: exit status 3", None).ending,
        Ending::Crash
    );
    assert_eq!(
        read_boot("ocaml-unikraft: exit status 300 boot=5eed\n", None).ending,
        Ending::Crash
    );
}

#[test]
fn the_statuses_of_crash_timeout_and_run_errors_are_distinct() {
    let special = [CRASH_STATUS, TIMEOUT_STATUS, RUN_ERROR_STATUS, 0, 2];
    for (i, a) in special.iter().enumerate() {
        for b in &special[i + 1..] {
            assert_ne!(a, b);
        }
    }
}

#[test]
fn banners_of_every_style_are_removed() {
    let powered_by = "Powered by\n\
        o.   .o       _ _               __ _\n\
        Oo   Oo  ___ (_) | __ __  __ _ ' _) :_\n\
        oO   oO ' _ `| | |/ /  _)' _` | |_|  _)\n\
        oOo oOO| | | | |   (| | | (_) |  _) :_\n \
        OoOoO ._, ._:_:_,\\_._,  .__,_:_, \\___)\n\
        \x20                   Pandora 0.17.0~484ff20\n\
        hello\n";
    assert_eq!(strip_banner(powered_by), "hello\n");

    let ansi = "\x1b[0m\x1b[37mPowered by\n1\n2\n3\n4\n5\n\x1b[0m\x1b[37m   Pandora 0.17.0\x1b[0m\nhello\n";
    assert_eq!(strip_banner(ansi), "hello\n");

    let classic = "Welcome to  _ __             _____\n2\n3\n4\n   Pandora 0.17.0\nhello\n";
    assert_eq!(strip_banner(classic), "hello\n");

    let minimal = "Powered by Unikraft Pandora (0.17.0)\nhello\n";
    assert_eq!(strip_banner(minimal), "hello\n");

    // Output that merely mentions Unikraft later is left alone.
    let plain = "hello\nPowered by Unikraft\n";
    assert_eq!(strip_banner(plain), plain);
    assert_eq!(
        read_boot(&format!("{minimal}{STATUS_LINE}0 boot=5eed\n"), None).output,
        "hello\n"
    );
}

#[test]
fn the_filter_hides_the_status_line_however_the_bytes_are_split() {
    let console = format!("one\ntwo{STATUS_LINE}7 boot=5eed\nafter\n");
    for chunk in 1..console.len() {
        assert_eq!(
            filtered(&console, chunk),
            "one\ntwoafter\n",
            "chunks of {chunk}"
        );
    }
}

/// What the filter shows of `console` fed in pieces of `chunk` bytes.
fn filtered(console: &str, chunk: usize) -> String {
    let mut filter = ConsoleFilter::new(TOKEN);
    let mut shown = Vec::new();
    for piece in console.as_bytes().chunks(chunk) {
        shown.extend(filter.feed(piece));
    }
    shown.extend(filter.finish());
    String::from_utf8(shown).unwrap()
}

#[test]
fn the_filter_shows_forged_status_lines() {
    let console = format!("{STATUS_LINE}0\n{STATUS_LINE}1 boot=beef\nx{STATUS_LINE}2 boot=5eed\n");
    for chunk in 1..console.len() {
        assert_eq!(
            filtered(&console, chunk),
            format!("{STATUS_LINE}0\n{STATUS_LINE}1 boot=beef\nx"),
            "chunks of {chunk}"
        );
    }
}

#[test]
fn the_filter_holds_back_only_a_possible_marker_start() {
    let mut filter = ConsoleFilter::new(TOKEN);
    assert_eq!(filter.feed(b"prompt> "), b"prompt> ");
    assert_eq!(filter.feed(b"x ocaml-uni"), b"x ");
    // Not the marker after all: everything comes out.
    assert_eq!(filter.feed(b"q\n"), b"ocaml-uniq\n");
    // A partial marker at the very end is shown when the console closes.
    assert_eq!(filter.feed(b"ocaml-unikraft: exit"), b"");
    assert_eq!(filter.finish(), b"ocaml-unikraft: exit");
}

#[test]
fn the_filter_turns_crlf_into_lf_but_keeps_a_lone_carriage_return() {
    let console = format!("a\r\nprogress\r50%\r\n{STATUS_LINE}0 boot=5eed\r\nend\r");
    for chunk in 1..console.len() {
        assert_eq!(
            filtered(&console, chunk),
            "a\nprogress\r50%\nend\r",
            "chunks of {chunk}"
        );
    }
    assert_eq!(read_boot("x\ry\r\n", None).output, "x\ry\n");
}

#[test]
fn debug_kernel_messages_are_cut_out_and_nothing_else() {
    let console = "[    0.104217] Info: [libkvmplat] <setup.c @  421> Memory 00000000-0009fc00\n\
                   Hello\n\
                   half a li[    0.200000] Warn: [libuksched] <sched.c @   7> slow\n\
                   ne\n\
                   [    1.000000] ERR:  [libukboot] <boot.c @ 12> kept\n\
                   [   12.123456] Info: no library, no source\n\
                   [not a stamp] Info: [lib] kept\n\
                   [    0.1] Info: [lib] <a.c @ 1> kept: six digits of microseconds\n\
                   Info: [lib] kept: no time stamp\n\
                   [    3.000000] Info: [libvfscore] <automount.c @ 290> last, no newline";
    assert_eq!(
        strip_kernel_messages(console),
        "Hello\n\
         half a line\n\
         [    1.000000] ERR:  [libukboot] <boot.c @ 12> kept\n\
         [not a stamp] Info: [lib] kept\n\
         [    0.1] Info: [lib] <a.c @ 1> kept: six digits of microseconds\n\
         Info: [lib] kept: no time stamp\n"
    );
    assert_eq!(strip_kernel_messages("a [b] [c\n"), "a [b] [c\n");
}

#[test]
fn out_of_memory_is_a_failed_page_fault_or_an_ocaml_fatal_error() {
    let console = "[    0.404737] CRIT: [libukvmem] <pagefault.c @   43> Cannot handle write page fault at 0x10016e3000 (ec: 0x2): Out of memory (12).\n[    0.414017] CRIT: [libkvmplat] <traps.c @  113> Crashing\n";
    assert!(out_of_memory(console));
    assert!(out_of_memory("Fatal error: not enough memory\n"));
    assert!(!out_of_memory("Out of memory\n"));
    assert!(!out_of_memory(
        "[ 0.1] CRIT: [libkvmplat] <traps.c @  113> Crashing\n"
    ));
}

#[test]
fn a_stop_signal_is_the_ending_whatever_the_console_says() {
    let cut = Cut {
        from_start: true,
        killed_after: None,
        stopped_by: Some(15),
    };
    let transcript = read(
        "serving\nocaml-unikraft: exit status 0 boot=5eed\n",
        TOKEN,
        cut,
    );
    assert_eq!(transcript.ending, Ending::Stopped(15));
    assert_eq!(transcript.ending.status(), 143);
    assert_eq!(
        transcript.ending.describe(),
        "stopped by SIGTERM (status 143)"
    );
    assert_eq!(Ending::Stopped(2).status(), 130);
    assert_eq!(Ending::Stopped(1).status(), 129);
}

#[test]
fn a_tail_keeps_its_first_lines_and_still_gives_the_status() {
    // The banner's first line is not a banner in the middle of a console.
    let tail = "Powered by Unikraft x\nlast line\nocaml-unikraft: exit status 4 boot=5eed\n";
    let cut = Cut {
        from_start: false,
        ..Cut::default()
    };
    let transcript = read(tail, TOKEN, cut);
    assert_eq!(transcript.ending, Ending::Exit(4));
    assert_eq!(transcript.output, "Powered by Unikraft x\nlast line\n");
}

#[test]
fn the_filter_holds_back_no_more_than_a_status_line() {
    // The marker, then far more than a status line without a newline: it
    // is the program's and shows up before the line ends.
    let mut filter = ConsoleFilter::new(TOKEN);
    let long = format!("{STATUS_LINE}{}", "x".repeat(10 * MAX_STATUS_LINE));
    let shown = filter.feed(long.as_bytes());
    assert!(
        shown.len() >= long.len() - MAX_STATUS_LINE,
        "{}",
        shown.len()
    );
    let mut all = shown;
    all.extend(filter.feed(b"\n"));
    all.extend(filter.finish());
    assert_eq!(all, format!("{long}\n").into_bytes());
}
