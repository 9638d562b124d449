use super::qemu::{self, qboot_rom_of, virtio_console};
use super::*;
use crate::boot::devices::{Console, Disk};
use crate::boot::image;
use std::path::PathBuf;

fn strings(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| w.to_string()).collect()
}

#[test]
fn command_line_quotes_only_what_needs_it() {
    let args = strings(&["first", "second argument", r#"it's "quoted""#, "--", "a\\b"]);
    assert_eq!(
        command_line(&args).unwrap(),
        r#"first 'second argument' "it's \"quoted\"" -- 'a\b'"#
    );
    assert!(command_line(&strings(&[""])).is_err());
}

#[test]
fn firecracker_config_carries_image_memory_and_arguments() {
    let args = strings(&["one", "two words"]);
    let image = Path::new("/tmp/images/hello.exe");
    let x86 = Launch {
        backend: Backend::Firecracker,
        arch: Arch::X86_64,
        image,
        args: &args,
        env: &[],
        accel: Accel::Tcg,
        gdb: None,
        devices: &Devices::default(),
    };
    let config: serde_json::Value =
        serde_json::from_str(&firecracker_config(&x86, "t0k", None).unwrap()).unwrap();
    assert_eq!(
        config["boot-source"]["kernel_image_path"],
        "/tmp/images/hello.exe"
    );
    // argv[0] first on x86_64, where Unikraft adds no name of its own;
    // the token before `--`, where only Unikraft's libparam sees it.
    assert_eq!(
        config["boot-source"]["boot_args"],
        "hello.exe libocamlexit.token=t0k -- one 'two words'"
    );
    assert_eq!(config["machine-config"]["vcpu_count"], 1);
    assert_eq!(config["machine-config"]["mem_size_mib"], 512);
    assert_eq!(config["drives"], serde_json::json!([]));

    let arm = Launch {
        arch: Arch::Arm64,
        ..x86
    };
    let config: serde_json::Value =
        serde_json::from_str(&firecracker_config(&arm, "t0k", None).unwrap()).unwrap();
    assert_eq!(
        config["boot-source"]["boot_args"],
        "libocamlexit.token=t0k -- one 'two words'"
    );
}

#[test]
fn qemu_command_lines_use_the_software_cpu_and_carry_arguments() {
    let args = strings(&["a b"]);
    let launch = Launch {
        backend: Backend::Qemu,
        arch: Arch::Arm64,
        image: Path::new("k"),
        args: &args,
        env: &[],
        accel: Accel::Tcg,
        gdb: None,
        devices: &Devices {
            memory_mib: Some(300),
            disk: Some(crate::boot::devices::Disk {
                path: "d.img".into(),
                read_only: false,
            }),
            net: None,
            mac: None,
            share: None,
            console: Console::Auto,
        },
    };
    // No firmware choice on arm64: qboot is x86 firmware.
    let cmd = qemu::command(&launch, "t0k", Some(Path::new("qboot.rom")), None, None).unwrap();
    let words: Vec<_> = cmd.get_args().map(|a| a.to_string_lossy()).collect();
    assert_eq!(cmd.get_program(), "qemu-system-aarch64");
    for wanted in [
        "tcg",
        "-no-reboot",
        "300M",
        "virtio-blk-device,drive=disk0",
        "libocamlexit.token=t0k -- 'a b'",
    ] {
        assert!(words.iter().any(|w| w == wanted), "{wanted} in {words:?}");
    }
    assert!(!words.iter().any(|w| w == "-bios"), "{words:?}");
}

/// QEMU's arguments for an x86_64 boot with `devices`, given qboot or not.
fn x86_64_qemu_args(devices: &Devices, qboot: Option<&Path>) -> Vec<String> {
    let launch = Launch {
        backend: Backend::Qemu,
        arch: Arch::X86_64,
        image: Path::new("k"),
        args: &[],
        env: &[],
        accel: Accel::Tcg,
        gdb: None,
        devices,
    };
    let cmd = qemu::command(&launch, "t0k", qboot, None, None).unwrap();
    cmd.get_args()
        .map(|a| a.to_string_lossy().into_owned())
        .collect()
}

#[test]
fn x86_64_boots_with_qboot_when_qemu_has_it_and_the_guest_no_pci_device() {
    let rom = Path::new("/usr/share/qemu/qboot.rom");
    let seabios = |words: &[String]| {
        !words.iter().any(|w| w == "-bios")
            && words
                .windows(2)
                .any(|w| w == ["-fw_cfg", "name=etc/sercon-port,string=0"])
    };
    let memory_only = Devices {
        memory_mib: Some(64),
        ..Devices::default()
    };
    let words = x86_64_qemu_args(&memory_only, Some(rom));
    assert!(
        words
            .windows(2)
            .any(|w| w == ["-bios", "/usr/share/qemu/qboot.rom"]),
        "{words:?}"
    );
    // qboot prints no banner: SeaBIOS's switch for it is not needed.
    assert!(!words.iter().any(|w| w == "-fw_cfg"), "{words:?}");
    assert!(
        words.iter().any(|w| w == "qemu64,+pdpe1gb,+rdrand"),
        "{words:?}"
    );

    // Without qboot, and with PCI devices, which qboot leaves without
    // resources: SeaBIOS, QEMU's default.
    let words = x86_64_qemu_args(&memory_only, None);
    assert!(seabios(&words), "{words:?}");
    let net = Devices {
        net: Some(crate::boot::network::Net::User {
            forwards: Vec::new(),
        }),
        ..Devices::default()
    };
    let disk = Devices {
        disk: Some(crate::boot::devices::Disk {
            path: "d.img".into(),
            read_only: true,
        }),
        ..Devices::default()
    };
    for devices in [net, disk] {
        let words = x86_64_qemu_args(&devices, Some(rom));
        assert!(seabios(&words), "{words:?}");
    }
}

#[test]
fn qboot_is_looked_for_in_the_data_directory_of_the_qemu_installation() {
    use std::os::unix::fs::symlink;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    let bin = root.join("prefix/bin");
    std::fs::create_dir_all(&bin).unwrap();
    let qemu = bin.join("qemu-system-x86_64");
    std::fs::write(&qemu, "").unwrap();
    assert_eq!(qboot_rom_of(&qemu), None);

    let rom = root.join("prefix/share/qemu/qboot.rom");
    std::fs::create_dir_all(rom.parent().unwrap()).unwrap();
    std::fs::write(&rom, "").unwrap();
    assert_eq!(qboot_rom_of(&qemu).as_deref(), Some(rom.as_path()));
    // A QEMU on PATH through a symlink (Homebrew's bin) is followed.
    std::fs::create_dir(root.join("links")).unwrap();
    let link = root.join("links/qemu-system-x86_64");
    symlink(&qemu, &link).unwrap();
    assert_eq!(qboot_rom_of(&link).as_deref(), Some(rom.as_path()));
    assert_eq!(qboot_rom_of(&root.join("missing")), None);
}

#[test]
fn a_shared_directory_reaches_qemu_and_not_firecracker() {
    let share = Devices {
        share: Some("/srv/share".into()),
        ..Devices::default()
    };
    let launch = Launch {
        backend: Backend::Qemu,
        arch: Arch::X86_64,
        image: Path::new("share_read.exe"),
        args: &[],
        env: &[],
        accel: Accel::Tcg,
        gdb: None,
        devices: &share,
    };
    // qboot leaves PCI devices unconfigured: SeaBIOS even where qboot is.
    let qboot = Some(Path::new("/usr/share/qemu/qboot.rom"));
    let cmd = qemu::command(&launch, "t0k", qboot, None, None).unwrap();
    let words: Vec<_> = cmd.get_args().map(|a| a.to_string_lossy()).collect();
    assert_eq!(
        words.join(" "),
        "-fw_cfg name=etc/sercon-port,string=0 -cpu qemu64,+pdpe1gb,+rdrand -m 512M -smp 1,maxcpus=2 \
         -fsdev local,id=fs0,path=/srv/share,security_model=none \
         -device virtio-9p-pci,fsdev=fs0,mount_tag=fs0 \
         -accel tcg -no-reboot -nographic -nodefaults -serial stdio \
         -kernel share_read.exe -append libocamlexit.token=t0k --"
    );
    let arm = Launch {
        arch: Arch::Arm64,
        ..launch
    };
    let cmd = qemu::command(&arm, "t0k", None, None, None).unwrap();
    assert!(cmd
        .get_args()
        .any(|a| a == "virtio-9p-device,fsdev=fs0,mount_tag=fs0"));
    let firecracker = Launch {
        backend: Backend::Firecracker,
        ..launch
    };
    let err = firecracker_config(&firecracker, "t0k", None).unwrap_err();
    assert!(err.to_string().contains("no virtio-9p device"), "{err}");
}

/// Boots `script` as if it were QEMU: it gets QEMU's arguments for an
/// x86_64 image and the boot's token in `$t`, and plays a guest.
fn fake_qemu(script: &str, timeout: Duration) -> Boot {
    let launch = Launch {
        backend: Backend::Qemu,
        arch: Arch::X86_64,
        image: Path::new("image"),
        args: &[],
        env: &[],
        accel: Accel::Tcg,
        gdb: None,
        devices: &Devices::default(),
    };
    let token = console::new_token().unwrap();
    let qemu_cmd = qemu::command(&launch, &token, None, None, None).unwrap();
    let prelude = r#"for a; do case "$a" in *libocamlexit.token=*)
        t=${a#*libocamlexit.token=}; t=${t%% *};; esac; done"#;
    let mut fake = Command::new("sh");
    fake.arg("-c")
        .arg(format!("{prelude}\n{script}"))
        .arg("fake-qemu")
        .args(qemu_cmd.get_args());
    let scratch = tempfile::tempdir().unwrap();
    run_vmm(
        fake,
        &launch,
        &token,
        scratch.path(),
        None,
        None,
        &Watch::test(timeout),
    )
    .unwrap()
}

const DEADLINE: Duration = Duration::from_secs(10);

/// What a fake guest playing `script` ended with, before the deadline.
fn transcript_of(script: &str) -> console::Transcript {
    fake_qemu(script, DEADLINE).transcript().unwrap()
}

#[test]
fn the_guest_status_line_with_the_boot_token_is_the_status() {
    let transcript = transcript_of(r#"echo hi; echo "ocaml-unikraft: exit status 3 boot=$t""#);
    assert_eq!(transcript.ending, console::Ending::Exit(3));
    assert_eq!(transcript.output, "hi\n");
}

#[test]
fn a_forged_status_line_is_program_output_not_a_status() {
    // Without the token, or with another one: the VM stopped without
    // a status, so it crashed.
    for forged in ["", " boot=0123456789abcdef0123456789abcdef", " boot="] {
        let transcript = transcript_of(&format!("echo 'ocaml-unikraft: exit status 0{forged}'"));
        assert_eq!(transcript.ending, console::Ending::Crash, "{forged:?}");
        assert!(transcript.output.contains("exit status 0"));
    }
    // A forged line, then the real end of the program.
    let transcript = transcript_of(
        r#"echo 'ocaml-unikraft: exit status 0'; echo "ocaml-unikraft: exit status 3 boot=$t""#,
    );
    assert_eq!(transcript.ending, console::Ending::Exit(3));
    assert_eq!(transcript.output, "ocaml-unikraft: exit status 0\n");
}

#[test]
fn a_vm_killed_at_the_deadline_is_a_timeout_whatever_it_printed() {
    let short = Duration::from_millis(500);
    for line in [
        "ocaml-unikraft: exit status 0",
        "ocaml-unikraft: exit status 0 boot=$t",
    ] {
        let boot = fake_qemu(&format!("echo \"{line}\"; exec sleep 30"), short);
        let transcript = boot.transcript().unwrap();
        assert_eq!(transcript.ending, console::Ending::Timeout(short), "{line}");
        assert_eq!(transcript.ending.status(), console::TIMEOUT_STATUS);
    }
}

#[test]
fn a_crash_after_the_status_line_is_a_crash() {
    let transcript = transcript_of(
        r#"echo "ocaml-unikraft: exit status 0 boot=$t"; echo '[    0.5] CRIT: [libkvmplat] <trap.c @ 1> page fault'"#,
    );
    assert_eq!(transcript.ending, console::Ending::Crash);
    assert!(transcript.output.contains("page fault"));
    // Unikraft's own informational messages while halting are not one.
    let transcript = transcript_of(
        r#"echo "ocaml-unikraft: exit status 0 boot=$t"; echo '[    0.5] Info: [libkvmplat] <shutdown.c @ 59> Unikraft halted'"#,
    );
    assert_eq!(transcript.ending, console::Ending::Exit(0));
}

#[test]
fn a_vmm_that_fails_before_any_status_is_an_error() {
    let boot = fake_qemu("echo 'qemu: cannot open image' >&2; exit 1", DEADLINE);
    let err = boot.transcript().unwrap_err().to_string();
    assert!(err.contains("cannot open image"), "{err}");
}

/// An image file whose feature list is `features`.
fn image_with_features(dir: &Path, features: &str) -> PathBuf {
    let path = dir.join("image");
    let mut bytes = b"\x7fELF not really".to_vec();
    bytes.extend_from_slice(image::FEATURES_MARKER);
    bytes.extend_from_slice(features.as_bytes());
    bytes.push(b';');
    std::fs::write(&path, bytes).unwrap();
    path
}

fn qemu_words(launch: &Launch) -> Result<Vec<String>> {
    let socket = virtio_console(launch)?.then(|| Path::new("/run/c.sock"));
    let cmd = qemu::command(launch, "t0k", Some(Path::new("qboot.rom")), socket, None)?;
    Ok(cmd
        .get_args()
        .map(|a| a.to_string_lossy().into_owned())
        .collect())
}

#[test]
fn the_virtio_console_goes_where_it_costs_no_boot_time() {
    let dir = tempfile::tempdir().unwrap();
    let image = image_with_features(dir.path(), " vconsole");
    let disk = Devices {
        disk: Some(Disk {
            path: "d.img".into(),
            read_only: false,
        }),
        ..Devices::default()
    };
    let launch = |arch, devices| Launch {
        backend: Backend::Qemu,
        arch,
        image: &image,
        args: &[],
        env: &[],
        accel: Accel::Tcg,
        gdb: None,
        devices,
    };
    let has_console = |words: &[String]| {
        words
            .iter()
            .any(|w| w == "virtserialport,chardev=vconsole,nr=1")
    };
    let none = Devices::default();
    // x86_64 with memory only: qboot and the serial line.
    let words = qemu_words(&launch(Arch::X86_64, &none)).unwrap();
    assert!(
        !has_console(&words) && words.iter().any(|w| w == "qboot.rom"),
        "{words:?}"
    );
    // x86_64 with a disk: SeaBIOS anyway, so the virtio console on PCI.
    let words = qemu_words(&launch(Arch::X86_64, &disk)).unwrap();
    assert!(has_console(&words), "{words:?}");
    assert!(words.iter().any(|w| w == "virtio-serial-pci,max_ports=2"));
    assert!(!words.iter().any(|w| w == "qboot.rom"));
    // arm64: always, over MMIO.
    let words = qemu_words(&launch(Arch::Arm64, &none)).unwrap();
    assert!(has_console(&words));
    assert!(words
        .iter()
        .any(|w| w == "virtio-serial-device,max_ports=2"));
    assert!(words
        .iter()
        .any(|w| w == "socket,id=vconsole,path=/run/c.sock"));
    // Asked for: on x86_64 with memory only too, without qboot.
    let virtio = Devices {
        console: Console::Virtio,
        ..Devices::default()
    };
    let words = qemu_words(&launch(Arch::X86_64, &virtio)).unwrap();
    assert!(has_console(&words) && !words.iter().any(|w| w == "qboot.rom"));
    // Refused: serial only.
    let serial = Devices {
        console: Console::Serial,
        ..disk.clone()
    };
    let words = qemu_words(&launch(Arch::Arm64, &serial)).unwrap();
    assert!(!has_console(&words) && words.iter().any(|w| w == "stdio"));
    // An image without the driver: never on its own, an error when asked.
    let old = image_with_features(dir.path(), "");
    let old_launch = Launch {
        image: &old,
        ..launch(Arch::Arm64, &none)
    };
    assert!(!has_console(&qemu_words(&old_launch).unwrap()));
    let asked = Launch {
        devices: &virtio,
        ..old_launch
    };
    let err = qemu_words(&asked).unwrap_err().to_string();
    assert!(err.contains("no virtio-console driver"), "{err}");
}

#[test]
fn kvm_gets_the_host_cpu_and_a_debugger_holds_the_guest_at_its_start() {
    let none = Devices::default();
    let launch = |arch, accel, gdb| Launch {
        backend: Backend::Qemu,
        arch,
        image: Path::new("k"),
        args: &[],
        env: &[],
        devices: &none,
        accel,
        gdb,
    };
    let words = |launch: &Launch| -> String {
        let cmd = qemu::command(launch, "t0k", None, None, None).unwrap();
        let words: Vec<_> = cmd.get_args().map(|a| a.to_string_lossy()).collect();
        words.join(" ")
    };
    let kvm = words(&launch(Arch::X86_64, Accel::Kvm, None));
    assert!(
        kvm.contains("-cpu host ") && kvm.contains("-accel kvm "),
        "{kvm}"
    );
    assert!(!kvm.contains("-gdb") && !kvm.contains("-smp"), "{kvm}");
    let tcg = words(&launch(Arch::X86_64, Accel::Tcg, None));
    assert!(
        tcg.contains("-cpu qemu64,+pdpe1gb,+rdrand ")
            && tcg.contains("-accel tcg ")
            && tcg.contains("-smp 1,maxcpus=2 "),
        "{tcg}"
    );
    let arm = words(&launch(Arch::Arm64, Accel::Kvm, Some(1234)));
    assert!(
        arm.contains("-machine virt -cpu host ") && arm.contains("-gdb tcp:127.0.0.1:1234 -S "),
        "{arm}"
    );
    let arm = words(&launch(Arch::Arm64, Accel::Tcg, Some(1234)));
    assert!(
        arm.contains("-cpu max ") && arm.contains("-smp 1,maxcpus=2 "),
        "{arm}"
    );
    let firecracker = Launch {
        backend: Backend::Firecracker,
        ..launch(Arch::X86_64, Accel::Kvm, Some(1234))
    };
    let scratch = tempfile::tempdir().unwrap();
    let err = super::firecracker::command(&firecracker, scratch.path(), "t0k", None).unwrap_err();
    assert!(err.to_string().contains("--gdb is for QEMU"), "{err}");
}
