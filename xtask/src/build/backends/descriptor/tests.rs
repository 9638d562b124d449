//! Descriptor extraction from small hand-written `.cmd` files shaped like
//! Unikraft 0.17's (a real build tree is never committed).

use super::*;

struct Fixture {
    _dir: tempfile::TempDir,
    build: PathBuf,
    uk: PathBuf,
    image: PathBuf,
    roots: Roots,
}

fn fixture(image_class: u8) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let build = dir.path().join("b");
    let uk = dir.path().join("uk");
    std::fs::create_dir_all(build.join("appx")).unwrap();
    std::fs::create_dir_all(build.join("include")).unwrap();
    std::fs::create_dir_all(uk.join("include")).unwrap();
    std::fs::create_dir_all(uk.join("support/scripts")).unwrap();
    let (b, u) = (build.display().to_string(), uk.display().to_string());
    let write = |name: &str, text: String| std::fs::write(build.join(name), text).unwrap();
    write(
        "appx/main.o.cmd",
        format!(
            r#"""gcc -nostdinc -D __Unikraft__ -DUK_CODENAME="Calypso" -g3 -I{b}/include -I{u}//include -I{b}/missing/include -D__LIBNAME__=appx -D__BASENAME__=main.c -c /src/app/main.c -o {b}/appx/main.o -Wp,-MD,{b}/appx/.main.o.d"#
        ),
    );
    write(
        "img_qemu-x86_64.dbg.cmd",
        format!(
            r#"""gcc -Wl,-m,elf_x86_64 -Wl,--entry=_multiboot_entry {b}/libplat.o {b}/appx.o {b}/libc.o -Wl,--start-group -Wl,--end-group -nostdlib -Wl,-dT,{b}/libplat/link64.lds -Wl,-T,{u}/lib/extra.ld -o {b}/img_qemu-x86_64.dbg"#
        ),
    );
    write(
        "img_qemu-x86_64.cmd",
        format!(
            r#"""strip -s {b}/img_qemu-x86_64.dbg -o {b}/img_qemu-x86_64 2>&1 | {{ grep -Ev "Empty loadable segment detected" || true; }}"#
        ),
    );
    write(
        "img_qemu-x86_64.bootinfo.cmd",
        format!(
            r#"{u}/support/scripts/mkbootinfo.py {b}/img_qemu-x86_64 {b}/img_qemu-x86_64.bootinfo -a "x86_64" && ""objcopy {b}/img_qemu-x86_64 --update-section .uk_bootinfo={b}/img_qemu-x86_64.bootinfo"#
        ),
    );
    let image = build.join("img_qemu-x86_64");
    std::fs::write(&image, [0x7f, b'E', b'L', b'F', image_class, 0]).unwrap();
    std::fs::write(
        build.join("img_qemu-x86_64.dbg"),
        [0x7f, b'E', b'L', b'F', 2, 0],
    )
    .unwrap();
    let roots = Roots {
        roots: vec![(build.clone(), "build"), (uk.clone(), "unikraft")],
    };
    Fixture {
        _dir: dir,
        build,
        uk,
        image,
        roots,
    }
}

fn extract_fixture(fx: &Fixture) -> (Descriptor, Referenced) {
    let outputs = BuildOutputs {
        build_dir: &fx.build,
        app_lib: "appx",
        app_source: Path::new("/src/app/main.c"),
        image: &fx.image,
    };
    extract(
        &outputs,
        &fx.roots,
        "qemu",
        "x86_64",
        "",
        "/usr/lib/gcc/include",
    )
    .unwrap()
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[test]
fn multiboot_image_descriptor() {
    let fx = fixture(1);
    let (d, referenced) = extract_fixture(&fx);
    assert_eq!(d.cc, "gcc");
    assert_eq!(
        d.compile_flags,
        strings(&[
            "-nostdinc",
            "-D",
            "__Unikraft__",
            "-DUK_CODENAME=Calypso",
            "-I${bundle}/build/include",
            "-I${bundle}/unikraft/include",
            "-idirafter",
            "/usr/lib/gcc/include",
        ])
    );
    assert_eq!(
        d.link_flags,
        strings(&[
            "-Wl,-m,elf_x86_64",
            "-Wl,--entry=_multiboot_entry",
            "-Wl,-u,main",
            "-Wl,--no-warn-execstack",
            "-Wl,-Bstatic",
        ])
    );
    assert_eq!(
        d.link_objects_before,
        strings(&["${bundle}/build/libplat.o"])
    );
    assert_eq!(
        d.link_objects_after,
        strings(&[
            "${bundle}/build/libc.o",
            "-Wl,--start-group",
            "-Wl,--end-group",
            "-nostdlib",
            "-Wl,-dT,${bundle}/build/libplat/link64.lds",
            "-Wl,-T,${bundle}/unikraft/lib/extra.ld",
        ])
    );
    assert_eq!(
        d.post_link,
        vec![
            strings(&["strip", "-s", "${dbg}", "-o", "${out}"]),
            strings(&[
                "${bundle}/unikraft/support/scripts/mkbootinfo.py",
                "${out}",
                "${out}.bootinfo",
                "-a",
                "x86_64"
            ]),
            strings(&[
                "objcopy",
                "${out}",
                "--update-section",
                ".uk_bootinfo=${out}.bootinfo"
            ]),
            strings(&["${bundle}/unikraft/support/scripts/multiboot.py", "${out}"]),
        ]
    );
    let dirs: Vec<_> = referenced
        .dirs
        .iter()
        .map(|(_, inside)| inside.clone())
        .collect();
    assert_eq!(
        dirs,
        [
            PathBuf::from("build/include"),
            PathBuf::from("unikraft/include")
        ]
    );
    assert!(referenced.files.contains(&(
        fx.uk.join("support/scripts/multiboot.py"),
        PathBuf::from("unikraft/support/scripts/multiboot.py")
    )));
    assert!(referenced.files.contains(&(
        fx.build.join("libplat/link64.lds"),
        PathBuf::from("build/libplat/link64.lds")
    )));
}

#[test]
fn elf64_image_has_no_multiboot_step() {
    let fx = fixture(2);
    let (d, _) = extract_fixture(&fx);
    assert_eq!(d.post_link.len(), 3);
    assert!(d.post_link.iter().all(|s| !s[0].ends_with("multiboot.py")));
}

#[test]
fn cmd_files_split_into_commands() {
    assert_eq!(
        parse_cmd(r#"a "x y" && ""b -o f 2>&1 | { grep -v z; }"#).unwrap(),
        vec![strings(&["a", "x y"]), strings(&["b", "-o", "f"])]
    );
    assert!(parse_cmd("a 'unbalanced").is_err());
}
