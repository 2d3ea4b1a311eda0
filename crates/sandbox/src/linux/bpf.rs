//! A small seccomp-BPF program builder and loader, cordon's own.
//!
//! The program has the shape libseccomp gave cordon's filter before: the
//! architecture is checked first (any other, such as i386 through
//! `int 0x80`, kills the thread), on x86_64 x32 numbers (bit 30 set) kill
//! the thread too, then each syscall with rules is matched by number and
//! its rules are tried in order; the first whose argument compares all hold
//! decides; anything else is allowed. Arguments are compared as 64-bit
//! values, in two 32-bit halves.

use std::collections::BTreeMap;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd};

/// `SECCOMP_RET_KILL_THREAD`.
pub const RET_KILL_THREAD: u32 = 0x0000_0000;
/// `SECCOMP_RET_ERRNO` (the errno in the low 16 bits).
pub const RET_ERRNO: u32 = 0x0005_0000;
/// `SECCOMP_RET_USER_NOTIF`.
pub const RET_USER_NOTIF: u32 = 0x7fc0_0000;
/// `SECCOMP_RET_ALLOW`.
pub const RET_ALLOW: u32 = 0x7fff_0000;

/// `AUDIT_ARCH_X86_64`.
pub const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
/// x32 syscalls have this bit set in their number.
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// The architecture the filter admits: the one cordon was built for.
#[cfg(target_arch = "x86_64")]
pub const NATIVE_ARCH: u32 = AUDIT_ARCH_X86_64;
/// The architecture the filter admits: the one cordon was built for.
#[cfg(target_arch = "aarch64")]
pub const NATIVE_ARCH: u32 = 0xc000_00b7; // AUDIT_ARCH_AARCH64

// struct seccomp_data { int nr; __u32 arch; __u64 instruction_pointer; __u64 args[6]; }
const OFFSET_NR: u32 = 0;
const OFFSET_ARCH: u32 = 4;
const OFFSET_ARGS: u32 = 16;

// Classic BPF opcodes.
const LD_W_ABS: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
const ALU_AND_K: u16 = (libc::BPF_ALU | libc::BPF_AND | libc::BPF_K) as u16;
const JMP_JA: u16 = (libc::BPF_JMP | libc::BPF_JA) as u16;
const JMP_JEQ_K: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
const JMP_JGE_K: u16 = (libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K) as u16;
const RET_K: u16 = (libc::BPF_RET | libc::BPF_K) as u16;

/// What the kernel does with a matching call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// The call fails with this errno.
    Errno(i32),
    /// The call waits for the listener's answer.
    Notify,
}

impl Action {
    fn ret(self) -> u32 {
        match self {
            Action::Errno(e) => RET_ERRNO | (e as u32 & 0xffff),
            Action::Notify => RET_USER_NOTIF,
        }
    }
}

/// A comparison of one 64-bit syscall argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compare {
    /// `arg == value`.
    Equal(u64),
    /// `arg != value`.
    NotEqual(u64),
    /// `arg & mask == value`.
    MaskedEqual {
        /// The bits compared.
        mask: u64,
        /// Their expected value (within `mask`).
        value: u64,
    },
    /// `arg & mask != value` (with `value` 0: any bit of `mask` is set).
    MaskedNotEqual {
        /// The bits compared (not none).
        mask: u64,
        /// The value they must differ from (within `mask`).
        value: u64,
    },
}

/// One condition: argument `arg` (0..6) compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cond {
    /// The argument's index.
    pub arg: u8,
    /// The comparison.
    pub cmp: Compare,
}

/// A rule: all conditions hold (none: always) means `action`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    action: Action,
    conds: Vec<Cond>,
}

/// A filter being built: rules per syscall number; everything else allowed.
#[derive(Debug, Default)]
pub struct FilterBuilder {
    rules: BTreeMap<u32, Vec<Rule>>,
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

impl FilterBuilder {
    /// An empty filter (allows everything on the native architecture).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a rule for syscall `nr`: `action` when every condition holds.
    ///
    /// Refused (rather than resolved by some precedence) when the rule
    /// cannot coexist with the syscall's others: an unconditional rule
    /// beside any other with a different action.
    pub fn add(&mut self, nr: u32, action: Action, conds: &[Cond]) -> io::Result<()> {
        if nr >= X32_SYSCALL_BIT {
            return Err(invalid(format!("syscall number {nr:#x} out of range")));
        }
        for c in conds {
            if c.arg > 5 {
                return Err(invalid(format!("argument {} out of range", c.arg)));
            }
            if let Compare::MaskedEqual { mask, value } | Compare::MaskedNotEqual { mask, value } =
                c.cmp
            {
                if value & !mask != 0 {
                    return Err(invalid(format!(
                        "value {value:#x} has bits outside mask {mask:#x}"
                    )));
                }
            }
            if matches!(c.cmp, Compare::MaskedNotEqual { mask: 0, .. }) {
                return Err(invalid("a masked compare of no bits never differs".into()));
            }
        }
        let rules = self.rules.entry(nr).or_default();
        let conflict = rules
            .iter()
            .any(|r| r.action != action && (r.conds.is_empty() || conds.is_empty()));
        if conflict {
            return Err(invalid(format!(
                "syscall {nr}: an unconditional rule conflicts with another action"
            )));
        }
        rules.push(Rule {
            action,
            conds: conds.to_vec(),
        });
        Ok(())
    }

    /// Compiles the program.
    pub fn compile(&self) -> io::Result<Filter> {
        let mut prog = vec![
            stmt(LD_W_ABS, OFFSET_ARCH),
            jump(JMP_JEQ_K, NATIVE_ARCH, 1, 0),
            stmt(RET_K, RET_KILL_THREAD),
            stmt(LD_W_ABS, OFFSET_NR),
        ];
        if NATIVE_ARCH == AUDIT_ARCH_X86_64 {
            // x32 numbers kill; -1 (no call, as ptrace may set) goes on.
            prog.push(jump(JMP_JGE_K, X32_SYSCALL_BIT, 0, 2));
            prog.push(jump(JMP_JEQ_K, u32::MAX, 1, 0));
            prog.push(stmt(RET_K, RET_KILL_THREAD));
        }
        // Dispatch: `jeq nr` then a long jump to the syscall's block.
        let mut fixups = Vec::new();
        for (nr, rules) in &self.rules {
            if let [only] = rules.as_slice() {
                if only.conds.is_empty() {
                    prog.push(jump(JMP_JEQ_K, *nr, 0, 1));
                    prog.push(stmt(RET_K, only.action.ret()));
                    continue;
                }
            }
            prog.push(jump(JMP_JEQ_K, *nr, 0, 1));
            fixups.push((prog.len(), *nr));
            prog.push(stmt(JMP_JA, 0));
        }
        prog.push(stmt(RET_K, RET_ALLOW));
        for (at, nr) in fixups {
            let start = prog.len();
            // `ja` jumps k instructions past the next one.
            prog[at].k = to_u32(start - at - 1)?;
            for rule in &self.rules[&nr] {
                compile_rule(rule, &mut prog)?;
            }
            prog.push(stmt(RET_K, RET_ALLOW));
        }
        if prog.len() > libc::BPF_MAXINSNS as usize {
            return Err(invalid(format!(
                "the filter has {} instructions, over the kernel's {}",
                prog.len(),
                libc::BPF_MAXINSNS
            )));
        }
        let notifies = self
            .rules
            .values()
            .flatten()
            .any(|r| r.action == Action::Notify);
        Ok(Filter { prog, notifies })
    }
}

fn to_u32(n: usize) -> io::Result<u32> {
    u32::try_from(n).map_err(|_| invalid("jump too long".into()))
}

fn stmt(code: u16, k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump(code: u16, k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf, k }
}

/// Where a condition's jump goes.
#[derive(Clone, Copy)]
enum To {
    Next,
    Match,
    Fail,
}

struct Step {
    code: u16,
    k: u32,
    jt: To,
    jf: To,
}

fn ld(off: u32) -> Step {
    Step {
        code: LD_W_ABS,
        k: off,
        jt: To::Next,
        jf: To::Next,
    }
}

fn and(k: u32) -> Step {
    Step {
        code: ALU_AND_K,
        k,
        jt: To::Next,
        jf: To::Next,
    }
}

fn j(code: u16, k: u32, jt: To, jf: To) -> Step {
    Step { code, k, jt, jf }
}

/// The steps testing one condition; falling off the end means it holds.
fn cond_steps(c: &Cond, out: &mut Vec<Step>) {
    let lo_off = OFFSET_ARGS + 8 * u32::from(c.arg);
    // Little-endian: the high half follows the low one.
    let hi_off = lo_off + 4;
    let hi = |v: u64| (v >> 32) as u32;
    let lo = |v: u64| v as u32;
    match c.cmp {
        Compare::Equal(v) => {
            let (vh, vl) = (hi(v), lo(v));
            out.push(ld(hi_off));
            out.push(j(JMP_JEQ_K, vh, To::Next, To::Fail));
            out.push(ld(lo_off));
            out.push(j(JMP_JEQ_K, vl, To::Next, To::Fail));
        }
        Compare::NotEqual(v) => {
            let (vh, vl) = (hi(v), lo(v));
            out.push(ld(hi_off));
            out.push(j(JMP_JEQ_K, vh, To::Next, To::Match));
            out.push(ld(lo_off));
            out.push(j(JMP_JEQ_K, vl, To::Fail, To::Next));
        }
        Compare::MaskedEqual { mask, value } => {
            for (off, m, v) in [(hi_off, hi(mask), hi(value)), (lo_off, lo(mask), lo(value))] {
                // A half with no mask bits always matches (v is within m).
                if m == 0 {
                    continue;
                }
                out.push(ld(off));
                if m != u32::MAX {
                    out.push(and(m));
                }
                out.push(j(JMP_JEQ_K, v, To::Next, To::Fail));
            }
        }
        Compare::MaskedNotEqual { mask, value } => {
            // Holds as soon as one half differs; fails when the last half
            // compared (the low one, unless its mask is empty) is equal too.
            let halves: Vec<_> = [(hi_off, hi(mask), hi(value)), (lo_off, lo(mask), lo(value))]
                .into_iter()
                .filter(|(_, m, _)| *m != 0)
                .collect();
            for (i, (off, m, v)) in halves.iter().enumerate() {
                out.push(ld(*off));
                if *m != u32::MAX {
                    out.push(and(*m));
                }
                if i + 1 == halves.len() {
                    out.push(j(JMP_JEQ_K, *v, To::Fail, To::Next));
                } else {
                    out.push(j(JMP_JEQ_K, *v, To::Next, To::Match));
                }
            }
        }
    }
}

/// Appends one rule: its conditions, then `ret action`; a failed
/// condition jumps past that `ret` to the next rule. A condition that
/// holds outright (`Match`) jumps to the next condition's start.
fn compile_rule(rule: &Rule, prog: &mut Vec<libc::sock_filter>) -> io::Result<()> {
    // Compile each condition separately: its Match means "go on with the
    // next condition", its Fail means "skip the rule".
    let mut blocks: Vec<Vec<Step>> = Vec::new();
    for c in &rule.conds {
        let mut steps = Vec::new();
        cond_steps(c, &mut steps);
        blocks.push(steps);
    }
    let total: usize = blocks.iter().map(Vec::len).sum();
    // Rule layout: [all condition steps] [ret action] [next rule...]
    let ret_at = total;
    let mut pos = 0;
    for steps in &blocks {
        let end = pos + steps.len();
        for (i, s) in steps.iter().enumerate() {
            let here = pos + i;
            let target = |t: To| -> io::Result<u8> {
                let dest = match t {
                    To::Next => here + 1,
                    To::Match => end,
                    To::Fail => ret_at + 1,
                };
                u8::try_from(dest - here - 1).map_err(|_| invalid("rule too long".into()))
            };
            let (jt, jf) = if s.code & 0x07 == libc::BPF_JMP as u16 {
                (target(s.jt)?, target(s.jf)?)
            } else {
                (0, 0)
            };
            prog.push(jump(s.code, s.k, jt, jf));
        }
        pos = end;
    }
    prog.push(stmt(RET_K, rule.action.ret()));
    Ok(())
}

/// A compiled filter, ready to load.
#[derive(Debug, Clone)]
pub struct Filter {
    prog: Vec<libc::sock_filter>,
    notifies: bool,
}

/// `SECCOMP_SET_MODE_FILTER`.
const SECCOMP_SET_MODE_FILTER: libc::c_ulong = 1;
/// `SECCOMP_FILTER_FLAG_NEW_LISTENER`.
const SECCOMP_FILTER_FLAG_NEW_LISTENER: libc::c_ulong = 1 << 3;

impl Filter {
    /// The instructions.
    #[cfg(test)]
    pub fn instructions(&self) -> &[libc::sock_filter] {
        &self.prog
    }

    /// Whether some rule notifies a listener (the load then creates one).
    #[cfg(test)]
    pub fn notifies(&self) -> bool {
        self.notifies
    }

    /// Sets no-new-privileges and loads the filter on the calling thread;
    /// returns the listener when some rule notifies. Allocates nothing (it
    /// runs between fork and exec).
    pub fn load(&self) -> io::Result<Option<OwnedFd>> {
        let prog = libc::sock_fprog {
            len: self.prog.len() as libc::c_ushort,
            filter: self.prog.as_ptr().cast_mut(),
        };
        let flags = if self.notifies {
            SECCOMP_FILTER_FLAG_NEW_LISTENER
        } else {
            0
        };
        // SAFETY: prctl with integer arguments.
        if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: prog points at self.prog, valid for its length.
        let r = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                SECCOMP_SET_MODE_FILTER,
                flags,
                &prog as *const libc::sock_fprog,
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        if !self.notifies {
            return Ok(None);
        }
        let fd = libc::c_int::try_from(r).map_err(|_| invalid("bad listener fd".into()))?;
        // SAFETY: the kernel just gave us this descriptor.
        Ok(Some(unsafe { OwnedFd::from_raw_fd(fd) }))
    }
}

/// A classic-BPF interpreter for seccomp programs, to test what a filter
/// decides for a given call without loading it.
#[cfg(test)]
pub mod interpret {
    /// The kernel's `struct seccomp_data`, as the filter sees it.
    #[derive(Debug, Clone, Copy)]
    pub struct Data {
        /// Syscall number.
        pub nr: u32,
        /// `AUDIT_ARCH_*`.
        pub arch: u32,
        /// The six arguments.
        pub args: [u64; 6],
    }

    impl Data {
        fn word(&self, off: u32) -> u32 {
            match off {
                0 => self.nr,
                4 => self.arch,
                8 | 12 => 0,
                16..=60 if off & 3 == 0 => {
                    let a = self.args[((off - 16) / 8) as usize];
                    if off & 7 == 0 {
                        a as u32
                    } else {
                        (a >> 32) as u32
                    }
                }
                _ => panic!("load outside seccomp_data: {off}"),
            }
        }
    }

    /// Runs `prog` on `data`; returns the filter's return value.
    pub fn run(prog: &[libc::sock_filter], data: &Data) -> u32 {
        let (mut a, mut pc) = (0u32, 0usize);
        loop {
            let i = prog[pc];
            let k = i.k;
            let class = i.code & 0x07;
            pc += 1;
            match class {
                0x00 => {
                    assert_eq!(i.code, 0x20, "only ld w abs");
                    a = data.word(k);
                }
                0x04 => match i.code & 0xf0 {
                    0x50 => a &= k,
                    op => panic!("alu op {op:#x}"),
                },
                0x05 => {
                    let taken = match i.code & 0xf0 {
                        0x00 => {
                            pc += k as usize;
                            continue;
                        }
                        0x10 => a == k,
                        0x20 => a > k,
                        0x30 => a >= k,
                        0x40 => a & k != 0,
                        op => panic!("jmp op {op:#x}"),
                    };
                    pc += if taken { i.jt } else { i.jf } as usize;
                }
                0x06 => return k,
                c => panic!("class {c:#x}"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::interpret::{run, Data};
    use super::*;

    fn decide(f: &Filter, nr: u32, args: [u64; 6]) -> u32 {
        run(
            f.instructions(),
            &Data {
                nr,
                arch: NATIVE_ARCH,
                args,
            },
        )
    }

    #[test]
    fn sixty_four_bit_compares_look_at_both_halves() {
        let mut b = FilterBuilder::new();
        let eq = |v| Cond {
            arg: 3,
            cmp: Compare::Equal(v),
        };
        b.add(1, Action::Errno(1), &[eq(0x1_0000_0002)]).unwrap();
        let ne = Cond {
            arg: 5,
            cmp: Compare::NotEqual(0x2_0000_0000),
        };
        b.add(3, Action::Errno(3), &[ne]).unwrap();
        let f = b.compile().unwrap();
        let with = |i: usize, v: u64| {
            let mut a = [0; 6];
            a[i] = v;
            a
        };
        assert_eq!(decide(&f, 1, with(3, 0x1_0000_0002)), RET_ERRNO | 1);
        assert_eq!(decide(&f, 1, with(3, 0x2)), RET_ALLOW);
        assert_eq!(decide(&f, 1, with(3, 0x2_0000_0002)), RET_ALLOW);
        assert_eq!(decide(&f, 3, with(5, 0x2_0000_0000)), RET_ALLOW);
        assert_eq!(decide(&f, 3, with(5, 0x2_0000_0001)), RET_ERRNO | 3);
        assert_eq!(decide(&f, 3, with(5, 0x0)), RET_ERRNO | 3);
    }

    #[test]
    fn masked_not_equal_holds_when_any_compared_bit_differs() {
        let mut b = FilterBuilder::new();
        let differs = |arg, mask, value| Cond {
            arg,
            cmp: Compare::MaskedNotEqual { mask, value },
        };
        // Any of three bits across both halves set.
        b.add(1, Action::Errno(1), &[differs(0, 0x1_0000_0006, 0)])
            .unwrap();
        // The low 4 bits are other than 1.
        b.add(2, Action::Errno(2), &[differs(1, 0xf, 1)]).unwrap();
        // High half only.
        b.add(
            3,
            Action::Errno(3),
            &[differs(2, 0xff_0000_0000, 0x1_0000_0000)],
        )
        .unwrap();
        let f = b.compile().unwrap();
        let with = |i: usize, v: u64| {
            let mut a = [0; 6];
            a[i] = v;
            a
        };
        for (v, hit) in [
            (0u64, false),
            (0x1, false),
            (0x8_0000_0000, false),
            (0x2, true),
            (0x4, true),
            (0x1_0000_0000, true),
            (0x1_0000_0001, true),
        ] {
            let want = if hit { RET_ERRNO | 1 } else { RET_ALLOW };
            assert_eq!(decide(&f, 1, with(0, v)), want, "{v:#x}");
        }
        for (v, hit) in [
            (1u64, false),
            (0x81, false),
            (0x1_0000_0001, false),
            (0, true),
            (2, true),
            (0x11, false),
            (0xf, true),
        ] {
            let want = if hit { RET_ERRNO | 2 } else { RET_ALLOW };
            assert_eq!(decide(&f, 2, with(1, v)), want, "{v:#x}");
        }
        assert_eq!(decide(&f, 3, with(2, 0x1_0000_0000)), RET_ALLOW);
        assert_eq!(decide(&f, 3, with(2, 0x1_ffff_ffff)), RET_ALLOW);
        assert_eq!(decide(&f, 3, with(2, 0x2_0000_0000)), RET_ERRNO | 3);
        assert_eq!(decide(&f, 3, with(2, 0)), RET_ERRNO | 3);
        let none = differs(0, 0, 0);
        assert!(FilterBuilder::new()
            .add(4, Action::Notify, &[none])
            .is_err());
    }

    #[test]
    fn all_conditions_of_a_rule_must_hold_and_the_first_rule_decides() {
        let mut b = FilterBuilder::new();
        let masked = |arg, mask, value| Cond {
            arg,
            cmp: Compare::MaskedEqual { mask, value },
        };
        b.add(
            7,
            Action::Errno(5),
            &[masked(0, 0xf, 1), masked(1, 0xf0, 0x20)],
        )
        .unwrap();
        b.add(7, Action::Notify, &[masked(0, 0xf, 1)]).unwrap();
        let f = b.compile().unwrap();
        assert_eq!(decide(&f, 7, [0x11, 0x21, 0, 0, 0, 0]), RET_ERRNO | 5);
        assert_eq!(decide(&f, 7, [0x11, 0x31, 0, 0, 0, 0]), RET_USER_NOTIF);
        assert_eq!(decide(&f, 7, [0x12, 0x21, 0, 0, 0, 0]), RET_ALLOW);
        assert_eq!(decide(&f, 8, [0x11, 0x21, 0, 0, 0, 0]), RET_ALLOW);
        assert!(f.notifies());
    }

    #[test]
    fn long_blocks_are_reached_by_long_jumps() {
        let mut b = FilterBuilder::new();
        for i in 0..200u64 {
            let c = Cond {
                arg: 0,
                cmp: Compare::Equal(i << 33),
            };
            b.add(5, Action::Errno(1), &[c]).unwrap();
        }
        b.add(6, Action::Errno(2), &[]).unwrap();
        let f = b.compile().unwrap();
        assert!(f.instructions().len() > 800);
        assert_eq!(decide(&f, 5, [199 << 33, 0, 0, 0, 0, 0]), RET_ERRNO | 1);
        assert_eq!(decide(&f, 5, [199, 0, 0, 0, 0, 0]), RET_ALLOW);
        assert_eq!(decide(&f, 6, [0; 6]), RET_ERRNO | 2);
    }

    #[test]
    fn conflicting_and_malformed_rules_are_refused() {
        let mut b = FilterBuilder::new();
        b.add(1, Action::Errno(1), &[]).unwrap();
        let c = Cond {
            arg: 0,
            cmp: Compare::Equal(1),
        };
        assert!(b.add(1, Action::Notify, &[c]).is_err());
        assert!(b.add(2, Action::Notify, &[Cond { arg: 6, ..c }]).is_err());
        let outside = Cond {
            arg: 0,
            cmp: Compare::MaskedEqual {
                mask: 0xf,
                value: 0x10,
            },
        };
        assert!(b.add(2, Action::Notify, &[outside]).is_err());
        assert!(b.add(0x4000_0001, Action::Notify, &[]).is_err());
    }
}
