//! The few fields of an ELF header that tell what an image is: its class
//! (32 or 64 bits), its machine, its entry point and whether that entry
//! lies in code. Read from the bytes of the file's beginning, little-endian
//! (the byte order of every target here); anything else is `None`.

/// `e_machine` of 32-bit x86.
pub const MACHINE_I386: u16 = 0x03;
/// `e_machine` of x86_64.
pub const MACHINE_X86_64: u16 = 0x3e;

/// Whether an ELF file is 32- or 64-bit (`EI_CLASS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Elf32,
    Elf64,
}

fn is_elf(bytes: &[u8]) -> bool {
    bytes.starts_with(b"\x7fELF")
}

/// The class of an ELF file, or `None` when `bytes` do not begin one of a
/// known class.
pub fn class(bytes: &[u8]) -> Option<Class> {
    if !is_elf(bytes) {
        return None;
    }
    match bytes.get(4)? {
        1 => Some(Class::Elf32),
        2 => Some(Class::Elf64),
        _ => None,
    }
}

/// The machine an ELF file is for (`e_machine`, at the same place in both
/// classes).
pub fn machine(bytes: &[u8]) -> Option<u16> {
    is_elf(bytes).then(|| u16_at(bytes, 0x12))?
}

/// The entry point of an ELF64 file.
pub fn entry(bytes: &[u8]) -> Option<u64> {
    match class(bytes)? {
        Class::Elf64 => u64_at(bytes, 0x18),
        Class::Elf32 => None,
    }
}

/// Whether `address` lies in a loadable, executable segment of an ELF64
/// file.
pub fn in_executable_segment(bytes: &[u8], address: u64) -> bool {
    let Some((offset, size, count)) = program_headers(bytes) else {
        return false;
    };
    (0..count).any(|i| {
        let header = i.checked_mul(size).and_then(|at| at.checked_add(offset));
        header.and_then(|at| loads_code_at(bytes, at, address)) == Some(true)
    })
}

/// Where an ELF64 file's program headers are: their offset, the size of
/// one and their count.
fn program_headers(bytes: &[u8]) -> Option<(usize, usize, usize)> {
    match class(bytes)? {
        Class::Elf64 => Some((
            usize::try_from(u64_at(bytes, 0x20)?).ok()?,
            usize::from(u16_at(bytes, 0x36)?),
            usize::from(u16_at(bytes, 0x38)?),
        )),
        Class::Elf32 => None,
    }
}

/// Whether the ELF64 program header at `at` is a loadable, executable
/// segment that holds `address`; `None` when the header is cut short.
fn loads_code_at(bytes: &[u8], at: usize, address: u64) -> Option<bool> {
    const PT_LOAD: u32 = 1;
    const PF_X: u32 = 1;
    let (kind, flags) = (u32_at(bytes, at)?, u32_at(bytes, at.checked_add(4)?)?);
    let start = u64_at(bytes, at.checked_add(0x10)?)?;
    let size = u64_at(bytes, at.checked_add(0x28)?)?;
    let holds = address
        .checked_sub(start)
        .is_some_and(|offset| offset < size);
    Some(kind == PT_LOAD && flags & PF_X != 0 && holds)
}

fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(
        bytes.get(at..)?.get(..2)?.try_into().ok()?,
    ))
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        bytes.get(at..)?.get(..4)?.try_into().ok()?,
    ))
}

fn u64_at(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(
        bytes.get(at..)?.get(..8)?.try_into().ok()?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal x86_64 ELF64 header with one program header at 0x40: a
    /// loadable segment from 0x1000, 0x100 bytes, readable and executable,
    /// and entry 0x1010.
    fn elf64() -> Vec<u8> {
        let mut elf = vec![0u8; 0x40 + 0x38];
        elf[..5].copy_from_slice(b"\x7fELF\x02");
        elf[0x12] = 0x3e;
        elf[0x18..0x20].copy_from_slice(&0x1010u64.to_le_bytes());
        elf[0x20..0x28].copy_from_slice(&0x40u64.to_le_bytes());
        elf[0x36] = 0x38;
        elf[0x38] = 1;
        elf[0x40] = 1; // PT_LOAD
        elf[0x44] = 5; // R and X
        elf[0x50..0x58].copy_from_slice(&0x1000u64.to_le_bytes());
        elf[0x68..0x70].copy_from_slice(&0x100u64.to_le_bytes());
        elf
    }

    #[test]
    fn class_and_machine_come_from_the_identification_and_header() {
        let mut elf = elf64();
        assert_eq!(class(&elf), Some(Class::Elf64));
        assert_eq!(machine(&elf), Some(MACHINE_X86_64));
        elf[4] = 1;
        elf[0x12] = 0x03;
        assert_eq!(class(&elf), Some(Class::Elf32));
        assert_eq!(machine(&elf), Some(MACHINE_I386));
        elf[4] = 3;
        assert_eq!(class(&elf), None, "an unknown class");
        assert_eq!(machine(&elf), Some(MACHINE_I386));
        assert_eq!(class(b"\x7fELF"), None);
        assert_eq!(machine(b"\x7fELF\x01"), None, "too short for e_machine");
        assert_eq!(class(b"#!/bin/sh\n"), None);
    }

    #[test]
    fn an_elf64_entry_must_lie_in_an_executable_segment() {
        let mut elf = elf64();
        assert_eq!(entry(&elf), Some(0x1010));
        assert!(in_executable_segment(&elf, 0x1010));
        elf[0x44] = 4; // R only
        assert!(!in_executable_segment(&elf, 0x1010));
        elf[0x44] = 5;
        assert!(!in_executable_segment(&elf, 0x2000));
        assert!(!in_executable_segment(&elf[..0x50], 0x1010), "cut short");
        elf[4] = 1;
        assert_eq!(entry(&elf), None, "ELF32 is not read as ELF64");
        assert!(!in_executable_segment(&elf, 0x1010));
    }
}
