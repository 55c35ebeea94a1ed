//! The shared public port: one `SO_REUSEPORT` listening socket per worker slot, all created and
//! kept open by the supervisor, each handed to its slot's worker as an inherited descriptor.
//!
//! Because the supervisor holds every socket, a socket outlives the worker that accepts from
//! it: connections that reach a crashed worker's socket wait in its accept queue until the
//! replacement accepts them, and a rolling reload starts the new worker on the *same* socket
//! before the old one stops accepting, so no queued connection is ever reset (closing a
//! reuseport socket drops its queue; nothing here closes one while it matters).
//!
//! Which socket a new connection joins is chosen by a classic BPF program attached with
//! `SO_ATTACH_REUSEPORT_CBPF`: a hash of the client's address, so every connection of one client
//! reaches the same worker (like nginx `ip_hash`). Socket.IO long-polling depends on this: a
//! session lives in one worker, and its requests arrive on separate connections.

use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::Arc;

use socket2::{Domain, Protocol, Socket, Type};

/// How connections are spread over the workers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Balance {
    /// By client address: sticky, needed for Socket.IO long-polling.
    Ip,
    /// The kernel's default hash of the whole connection tuple: the most even spread, for
    /// deployments without long-polling clients.
    Connection,
}

impl std::str::FromStr for Balance {
    type Err = String;
    fn from_str(s: &str) -> Result<Balance, String> {
        match s {
            "ip" => Ok(Balance::Ip),
            "connection" => Ok(Balance::Connection),
            other => Err(format!("{other:?} is not a balance mode (ip or connection)")),
        }
    }
}

impl std::fmt::Display for Balance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Balance::Ip => "ip",
            Balance::Connection => "connection",
        })
    }
}

/// A listening socket that shares its port with the others of the group.
pub fn bind_reuseport(addr: SocketAddr) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(false)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket)
}

/// The sockets of the public port, in the kernel's order: the index a steering program
/// returns is a position in the group, which the kernel assigns in `listen` order and
/// compacts on close by moving the last socket into the hole (mirrored by `swap_remove`).
pub struct PortGroup {
    addr: SocketAddr,
    slots: usize,
    balance: Balance,
    members: Vec<(usize, Arc<Socket>)>,
}

impl PortGroup {
    /// One socket per slot on `addr` (a port of 0 picks one free port for all of them).
    pub fn bind(addr: SocketAddr, slots: usize, balance: Balance) -> io::Result<PortGroup> {
        let first = bind_reuseport(addr)?;
        let addr = first.local_addr()?.as_socket().expect("an inet socket");
        let mut group = PortGroup { addr, slots, balance, members: vec![(0, Arc::new(first))] };
        for slot in 1..slots {
            group.members.push((slot, Arc::new(bind_reuseport(addr)?)));
        }
        group.steer()?;
        Ok(group)
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn socket(&self, slot: usize) -> Option<Arc<Socket>> {
        self.members.iter().find(|(s, _)| *s == slot).map(|(_, sock)| sock.clone())
    }

    /// Takes a slot out of the port (its worker gave up): its clients move to the others and
    /// connections still queued on its socket are reset rather than left waiting forever.
    pub fn remove(&mut self, slot: usize) -> io::Result<()> {
        if let Some(pos) = self.members.iter().position(|(s, _)| *s == slot) {
            // Steer around it first, so no new connection lands there while it closes.
            let live: Vec<usize> = self.members.iter().map(|(s, _)| *s).filter(|s| *s != slot).collect();
            self.attach(&live, |s| self.members.iter().position(|(m, _)| *m == s).expect("member") as u32)?;
            self.members.swap_remove(pos);
        }
        self.steer()
    }

    /// Puts a slot back (a worker that had given up is started again).
    pub fn add(&mut self, slot: usize) -> io::Result<Arc<Socket>> {
        if let Some(sock) = self.socket(slot) {
            return Ok(sock);
        }
        let sock = Arc::new(bind_reuseport(self.addr)?);
        self.members.push((slot, sock.clone()));
        self.steer()?;
        Ok(sock)
    }

    /// (Re)attaches the steering program for the current members.
    fn steer(&self) -> io::Result<()> {
        let live: Vec<usize> = self.members.iter().map(|(s, _)| *s).collect();
        self.attach(&live, |s| self.members.iter().position(|(m, _)| *m == s).expect("member") as u32)
    }

    fn attach(&self, live: &[usize], index_of: impl Fn(usize) -> u32) -> io::Result<()> {
        if self.balance != Balance::Ip || self.members.len() < 2 || live.is_empty() {
            return Ok(());
        }
        // Slot `v` of the hash keeps its clients while it lives; a missing slot's clients are
        // spread over the live ones.
        let targets: Vec<u32> = (0..self.slots)
            .map(|v| if live.contains(&v) { index_of(v) } else { index_of(live[v % live.len()]) })
            .collect();
        attach_program(&self.members[0].1, &steering_program(&targets))
    }
}

// Classic BPF encoding (linux/filter.h, linux/bpf_common.h); stable kernel ABI.
const BPF_LD: u16 = 0x00;
const BPF_ALU: u16 = 0x04;
const BPF_JMP: u16 = 0x05;
const BPF_RET: u16 = 0x06;
const BPF_W: u16 = 0x00;
const BPF_B: u16 = 0x10;
const BPF_ABS: u16 = 0x20;
const BPF_MUL: u16 = 0x20;
const BPF_RSH: u16 = 0x70;
const BPF_MOD: u16 = 0x90;
const BPF_XOR: u16 = 0xa0;
const BPF_JA: u16 = 0x00;
const BPF_JEQ: u16 = 0x10;
const BPF_K: u16 = 0x00;
const BPF_X: u16 = 0x08;
/// BPF_MISC | BPF_TAX: X = A.
const BPF_TAX: u16 = 0x07;
/// Offsets from this base address the network (IP) header, whatever the program's data is.
const SKF_NET_OFF: u32 = (-0x100000i32) as u32;

fn op(code: u16, k: u32) -> libc::sock_filter {
    libc::sock_filter { code, jt: 0, jf: 0, k }
}

fn jump(code: u16, k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf, k }
}

/// The multiplier of Fibonacci hashing: neighbouring addresses land far apart.
pub const HASH_MULTIPLIER: u32 = 0x9E37_79B1;

/// The slot `hash % targets.len()` of a client address, as the program computes it: for
/// IPv4 the address as a big-endian word, for IPv6 the XOR of its four words.
pub fn hash_slot(ip: std::net::IpAddr, slots: usize) -> usize {
    let word = match ip {
        std::net::IpAddr::V4(v4) => u32::from(v4),
        std::net::IpAddr::V6(v6) => {
            let o = v6.octets();
            (0..4).fold(0, |acc, i| acc ^ u32::from_be_bytes([o[4 * i], o[4 * i + 1], o[4 * i + 2], o[4 * i + 3]]))
        }
    };
    ((word.wrapping_mul(HASH_MULTIPLIER) >> 16) % slots as u32) as usize
}

/// A program that returns `targets[hash(client address) % targets.len()]`, the index of a
/// socket in the group. It runs on the SYN (data starts past the TCP header; the IP header is
/// reached through `SKF_NET_OFF`). IPv4 and IPv6 packets both arrive on a dual-stack socket.
pub fn steering_program(targets: &[u32]) -> Vec<libc::sock_filter> {
    assert!(!targets.is_empty() && targets.len() < 1500, "slot count out of range");
    let ld_word = |offset: u32| op(BPF_LD | BPF_W | BPF_ABS, SKF_NET_OFF + offset);
    let mut p = vec![
        op(BPF_LD | BPF_B | BPF_ABS, SKF_NET_OFF), //  0: A = first byte of the IP header
        op(BPF_ALU | BPF_RSH | BPF_K, 4),          //  1: A = IP version
        jump(BPF_JMP | BPF_JEQ | BPF_K, 6, 2, 0),  //  2: IPv6 -> 5, else 3
        ld_word(12),                               //  3: A = IPv4 source address
        jump(BPF_JMP | BPF_JA, 10, 0, 0),          //  4: -> 15
        ld_word(8),                                //  5: IPv6 source, word 0
        op(BPF_TAX, 0),                            //  6: X = A
        ld_word(12),                               //  7: word 1
        op(BPF_ALU | BPF_XOR | BPF_X, 0),          //  8: A ^= X
        op(BPF_TAX, 0),                            //  9
        ld_word(16),                               // 10: word 2
        op(BPF_ALU | BPF_XOR | BPF_X, 0),          // 11
        op(BPF_TAX, 0),                            // 12
        ld_word(20),                               // 13: word 3
        op(BPF_ALU | BPF_XOR | BPF_X, 0),          // 14
        op(BPF_ALU | BPF_MUL | BPF_K, HASH_MULTIPLIER), // 15: hash
        op(BPF_ALU | BPF_RSH | BPF_K, 16),         // 16
        op(BPF_ALU | BPF_MOD | BPF_K, targets.len() as u32), // 17: A = slot
    ];
    for (v, target) in targets.iter().enumerate() {
        // A == v: return its socket; otherwise skip the return and test the next slot.
        p.push(jump(BPF_JMP | BPF_JEQ | BPF_K, v as u32, 0, 1));
        p.push(op(BPF_RET | BPF_K, *target));
    }
    p.push(op(BPF_RET | BPF_K, targets[0]));
    p
}

fn attach_program(socket: &Socket, program: &[libc::sock_filter]) -> io::Result<()> {
    let fprog = libc::sock_fprog { len: program.len() as u16, filter: program.as_ptr() as *mut libc::sock_filter };
    // SAFETY: `fprog` points into `program`, which outlives the call; the kernel copies it.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_ATTACH_REUSEPORT_CBPF,
            (&fprog as *const libc::sock_fprog).cast(),
            std::mem::size_of::<libc::sock_fprog>() as libc::socklen_t,
        )
    };
    if rc == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
}
