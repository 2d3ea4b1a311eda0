//! System call numbers by name, for the calls the seccomp filter names
//! (cordon's own table: no C library to ask). Numbers are the kernel's
//! (`arch/x86/entry/syscalls/syscall_64.tbl` and the generic table arm64
//! uses); a call a 64-bit architecture never had is `None` there.

/// (name, x86_64 number, aarch64 number).
const TABLE: &[(&str, Option<u32>, Option<u32>)] = &[
    ("ptrace", Some(101), Some(117)),
    ("process_vm_readv", Some(310), Some(270)),
    ("process_vm_writev", Some(311), Some(271)),
    ("io_uring_setup", Some(425), Some(425)),
    ("io_uring_enter", Some(426), Some(426)),
    ("io_uring_register", Some(427), Some(427)),
    ("bpf", Some(321), Some(280)),
    ("perf_event_open", Some(298), Some(241)),
    ("keyctl", Some(250), Some(219)),
    ("add_key", Some(248), Some(217)),
    ("request_key", Some(249), Some(218)),
    ("mount", Some(165), Some(40)),
    ("umount2", Some(166), Some(39)),
    ("pivot_root", Some(155), Some(41)),
    ("move_mount", Some(429), Some(429)),
    ("open_tree", Some(428), Some(428)),
    ("fsopen", Some(430), Some(430)),
    ("fsconfig", Some(431), Some(431)),
    ("fsmount", Some(432), Some(432)),
    ("fspick", Some(433), Some(433)),
    ("mount_setattr", Some(442), Some(442)),
    ("unshare", Some(272), Some(97)),
    ("setns", Some(308), Some(268)),
    ("userfaultfd", Some(323), Some(282)),
    ("kexec_load", Some(246), Some(104)),
    ("kexec_file_load", Some(320), Some(294)),
    ("init_module", Some(175), Some(105)),
    ("finit_module", Some(313), Some(273)),
    ("delete_module", Some(176), Some(106)),
    ("chroot", Some(161), Some(51)),
    ("fanotify_init", Some(300), Some(262)),
    ("chmod", Some(90), None),
    ("fchmod", Some(91), Some(52)),
    ("fchmodat", Some(268), Some(53)),
    ("fchmodat2", Some(452), Some(452)),
    ("chown", Some(92), None),
    ("fchown", Some(93), Some(55)),
    ("lchown", Some(94), None),
    ("fchownat", Some(260), Some(54)),
    ("utime", Some(132), None),
    ("utimes", Some(235), None),
    ("futimesat", Some(261), None),
    ("utimensat", Some(280), Some(88)),
    ("setxattr", Some(188), Some(5)),
    ("lsetxattr", Some(189), Some(6)),
    ("fsetxattr", Some(190), Some(7)),
    ("removexattr", Some(197), Some(14)),
    ("lremovexattr", Some(198), Some(15)),
    ("fremovexattr", Some(199), Some(16)),
    ("setxattrat", Some(463), Some(463)),
    ("removexattrat", Some(466), Some(466)),
    ("clone", Some(56), Some(220)),
    ("clone3", Some(435), Some(435)),
    ("ioctl", Some(16), Some(29)),
    ("socket", Some(41), Some(198)),
    ("socketpair", Some(53), Some(199)),
    ("personality", Some(135), Some(92)),
    ("open", Some(2), None),
    ("openat", Some(257), Some(56)),
    ("creat", Some(85), None),
    ("openat2", Some(437), Some(437)),
    ("mkdir", Some(83), None),
    ("mkdirat", Some(258), Some(34)),
    ("rmdir", Some(84), None),
    ("unlink", Some(87), None),
    ("unlinkat", Some(263), Some(35)),
    ("rename", Some(82), None),
    ("renameat", Some(264), None),
    ("renameat2", Some(316), Some(276)),
    ("link", Some(86), None),
    ("linkat", Some(265), Some(37)),
    ("symlink", Some(88), None),
    ("symlinkat", Some(266), Some(36)),
    ("mknod", Some(133), None),
    ("mknodat", Some(259), Some(33)),
    ("truncate", Some(76), Some(45)),
    ("connect", Some(42), Some(203)),
    ("sendto", Some(44), Some(206)),
];

/// The architecture's column in [`TABLE`].
#[cfg(target_arch = "x86_64")]
fn column(row: &(&str, Option<u32>, Option<u32>)) -> Option<u32> {
    row.1
}

/// The architecture's column in [`TABLE`].
#[cfg(target_arch = "aarch64")]
fn column(row: &(&str, Option<u32>, Option<u32>)) -> Option<u32> {
    row.2
}

/// The number of syscall `name` on this architecture.
///
/// `Err` when the name is not in the table (a plan naming it must be
/// refused, or the call would stay open); `Ok(None)` when the call does
/// not exist on this architecture (`chmod` on aarch64), so no rule is
/// needed.
pub fn number(name: &str) -> Result<Option<u32>, UnknownSyscall> {
    TABLE
        .iter()
        .find(|row| row.0 == name)
        .map(column)
        .ok_or_else(|| UnknownSyscall(name.to_string()))
}

/// The name of syscall number `nr` on this architecture, if the table has it.
#[cfg(all(test, target_arch = "x86_64"))]
pub fn name(nr: u32) -> Option<&'static str> {
    TABLE
        .iter()
        .find(|row| column(row) == Some(nr))
        .map(|row| row.0)
}

/// A syscall name missing from cordon's table.
#[derive(Debug)]
pub struct UnknownSyscall(pub String);

impl std::fmt::Display for UnknownSyscall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cordon's syscall table has no `{}`", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_numbers_too() {
        for (i, a) in TABLE.iter().enumerate() {
            for b in &TABLE[i + 1..] {
                assert_ne!(a.0, b.0);
                assert!(a.1.is_none() || a.1 != b.1, "{} {}", a.0, b.0);
                assert!(a.2.is_none() || a.2 != b.2, "{} {}", a.0, b.0);
            }
        }
    }

    #[test]
    fn unknown_names_are_an_error_and_absent_calls_none() {
        assert!(number("no_such_call").is_err());
        assert_eq!(number("openat2").ok().flatten(), Some(437));
        #[cfg(target_arch = "aarch64")]
        assert_eq!(number("chmod").ok(), Some(None));
    }

    /// The table agrees with the C library's headers (as the libc crate
    /// copies them) for every call both know.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn x86_64_numbers_match_libc() {
        let known: &[(&str, libc::c_long)] = &[
            ("ptrace", libc::SYS_ptrace),
            ("process_vm_readv", libc::SYS_process_vm_readv),
            ("process_vm_writev", libc::SYS_process_vm_writev),
            ("io_uring_setup", libc::SYS_io_uring_setup),
            ("io_uring_enter", libc::SYS_io_uring_enter),
            ("io_uring_register", libc::SYS_io_uring_register),
            ("bpf", libc::SYS_bpf),
            ("perf_event_open", libc::SYS_perf_event_open),
            ("keyctl", libc::SYS_keyctl),
            ("add_key", libc::SYS_add_key),
            ("request_key", libc::SYS_request_key),
            ("mount", libc::SYS_mount),
            ("umount2", libc::SYS_umount2),
            ("pivot_root", libc::SYS_pivot_root),
            ("move_mount", libc::SYS_move_mount),
            ("open_tree", libc::SYS_open_tree),
            ("fsopen", libc::SYS_fsopen),
            ("fsconfig", libc::SYS_fsconfig),
            ("fsmount", libc::SYS_fsmount),
            ("fspick", libc::SYS_fspick),
            ("mount_setattr", libc::SYS_mount_setattr),
            ("unshare", libc::SYS_unshare),
            ("setns", libc::SYS_setns),
            ("userfaultfd", libc::SYS_userfaultfd),
            ("kexec_load", libc::SYS_kexec_load),
            ("kexec_file_load", libc::SYS_kexec_file_load),
            ("init_module", libc::SYS_init_module),
            ("finit_module", libc::SYS_finit_module),
            ("delete_module", libc::SYS_delete_module),
            ("chroot", libc::SYS_chroot),
            ("fanotify_init", libc::SYS_fanotify_init),
            ("chmod", libc::SYS_chmod),
            ("fchmod", libc::SYS_fchmod),
            ("fchmodat", libc::SYS_fchmodat),
            ("fchmodat2", libc::SYS_fchmodat2),
            ("chown", libc::SYS_chown),
            ("fchown", libc::SYS_fchown),
            ("lchown", libc::SYS_lchown),
            ("fchownat", libc::SYS_fchownat),
            ("utime", libc::SYS_utime),
            ("utimes", libc::SYS_utimes),
            ("futimesat", libc::SYS_futimesat),
            ("utimensat", libc::SYS_utimensat),
            ("setxattr", libc::SYS_setxattr),
            ("lsetxattr", libc::SYS_lsetxattr),
            ("fsetxattr", libc::SYS_fsetxattr),
            ("removexattr", libc::SYS_removexattr),
            ("lremovexattr", libc::SYS_lremovexattr),
            ("fremovexattr", libc::SYS_fremovexattr),
            ("clone", libc::SYS_clone),
            ("clone3", libc::SYS_clone3),
            ("ioctl", libc::SYS_ioctl),
            ("socket", libc::SYS_socket),
            ("socketpair", libc::SYS_socketpair),
            ("personality", libc::SYS_personality),
            ("open", libc::SYS_open),
            ("openat", libc::SYS_openat),
            ("creat", libc::SYS_creat),
            ("openat2", libc::SYS_openat2),
            ("mkdir", libc::SYS_mkdir),
            ("mkdirat", libc::SYS_mkdirat),
            ("rmdir", libc::SYS_rmdir),
            ("unlink", libc::SYS_unlink),
            ("unlinkat", libc::SYS_unlinkat),
            ("rename", libc::SYS_rename),
            ("renameat", libc::SYS_renameat),
            ("renameat2", libc::SYS_renameat2),
            ("link", libc::SYS_link),
            ("linkat", libc::SYS_linkat),
            ("symlink", libc::SYS_symlink),
            ("symlinkat", libc::SYS_symlinkat),
            ("mknod", libc::SYS_mknod),
            ("mknodat", libc::SYS_mknodat),
            ("truncate", libc::SYS_truncate),
            ("connect", libc::SYS_connect),
            ("sendto", libc::SYS_sendto),
        ];
        for (name, nr) in known {
            assert_eq!(number(name).ok().flatten(), Some(*nr as u32), "{name}");
            assert_eq!(super::name(*nr as u32), Some(*name));
        }
    }
}
