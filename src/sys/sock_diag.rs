//! The listen queues of UNIX sockets, as the kernel's socket diagnostics
//! (netlink `SOCK_DIAG_BY_FAMILY`, what `ss -xl` shows) report them: how
//! many connections wait to be accepted, and the backlog.

use std::collections::HashMap;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

const NETLINK_SOCK_DIAG: libc::c_int = 4;
const SOCK_DIAG_BY_FAMILY: u16 = 20;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const TCP_LISTEN: u32 = 10;
const UDIAG_SHOW_NAME: u32 = 0x01;
const UDIAG_SHOW_RQLEN: u32 = 0x10;
const UNIX_DIAG_NAME: u16 = 0;
const UNIX_DIAG_RQLEN: u16 = 4;
const HEADER_LEN: usize = 16;
const DIAG_MSG_LEN: usize = 16;

/// A listening socket's queue: connections waiting, and the most allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenQueue {
    pub waiting: u32,
    pub backlog: u32,
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// The dump request: every listening UNIX socket, with its name and
/// queue lengths.
fn request() -> Vec<u8> {
    let mut m = Vec::with_capacity(HEADER_LEN + 24);
    let len = (HEADER_LEN + 24) as u32;
    m.extend_from_slice(&len.to_ne_bytes());
    m.extend_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    let flags = (libc::NLM_F_REQUEST | libc::NLM_F_DUMP) as u16;
    m.extend_from_slice(&flags.to_ne_bytes());
    m.extend_from_slice(&1u32.to_ne_bytes()); // sequence
    m.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel
    m.push(libc::AF_UNIX as u8);
    m.push(0); // protocol
    m.extend_from_slice(&0u16.to_ne_bytes());
    m.extend_from_slice(&(1u32 << TCP_LISTEN).to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes()); // any inode
    m.extend_from_slice(&(UDIAG_SHOW_NAME | UDIAG_SHOW_RQLEN).to_ne_bytes());
    m.extend_from_slice(&[0xff; 8]); // no cookie
    m
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Reads one reply datagram into `found`; false once the dump is done.
fn parse_reply(buf: &[u8], found: &mut HashMap<String, ListenQueue>) -> io::Result<bool> {
    let mut at = 0;
    while at + HEADER_LEN <= buf.len() {
        let len = u32_at(buf, at).unwrap_or(0) as usize;
        let kind = u16_at(buf, at + 4).unwrap_or(0);
        if len < HEADER_LEN || at + len > buf.len() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "short netlink message",
            ));
        }
        match kind {
            NLMSG_DONE => return Ok(false),
            NLMSG_ERROR => {
                let errno = u32_at(buf, at + HEADER_LEN).map_or(0, |e| -(e as i32));
                return Err(io::Error::from_raw_os_error(errno));
            }
            SOCK_DIAG_BY_FAMILY => {
                let message = &buf[at + HEADER_LEN..at + len];
                if let Some((name, queue)) = parse_socket(message) {
                    found.insert(name, queue);
                }
            }
            _ => {}
        }
        at += align4(len);
    }
    Ok(true)
}

/// A socket's path (abstract names are left out) and queue.
fn parse_socket(message: &[u8]) -> Option<(String, ListenQueue)> {
    let mut at = DIAG_MSG_LEN;
    let (mut name, mut queue) = (None, None);
    while at + 4 <= message.len() {
        let len = u16_at(message, at)? as usize;
        let kind = u16_at(message, at + 2)?;
        if len < 4 || at + len > message.len() {
            break;
        }
        let value = &message[at + 4..at + len];
        match kind {
            UNIX_DIAG_NAME if value.first().is_some_and(|b| *b != 0) => {
                let end = value.iter().position(|b| *b == 0).unwrap_or(value.len());
                name = Some(String::from_utf8_lossy(&value[..end]).into_owned());
            }
            UNIX_DIAG_RQLEN => {
                queue = Some(ListenQueue {
                    waiting: u32_at(value, 0)?,
                    backlog: u32_at(value, 4)?,
                })
            }
            _ => {}
        }
        at += align4(len);
    }
    Some((name?, queue?))
}

/// The listen queue of every listening UNIX socket with a path, by path.
pub fn unix_listen_queues() -> io::Result<HashMap<String, ListenQueue>> {
    // SAFETY: plain socket creation; the descriptor is owned below.
    let fd = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
            NETLINK_SOCK_DIAG,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh descriptor nobody else owns.
    let socket = unsafe { OwnedFd::from_raw_fd(fd) };
    let timeout = libc::timeval {
        tv_sec: 1,
        tv_usec: 0,
    };
    // SAFETY: a valid option value of the right size; a scrape must not
    // hang on a kernel that never answers.
    unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&timeout as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    };
    let message = request();
    // SAFETY: sends the bytes of `message`, which outlives the call.
    let sent = unsafe {
        libc::send(
            socket.as_raw_fd(),
            message.as_ptr().cast(),
            message.len(),
            0,
        )
    };
    if sent < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut found = HashMap::new();
    let mut buf = vec![0u8; 32 * 1024];
    // Bounded: a dump of more than this many datagrams is cut short.
    for _ in 0..1024 {
        // SAFETY: receives into `buf`, of the length given.
        let got = unsafe { libc::recv(socket.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if got < 0 {
            return Err(io::Error::last_os_error());
        }
        if !parse_reply(&buf[..got as usize], &mut found)? {
            break;
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attr(kind: u16, value: &[u8]) -> Vec<u8> {
        let mut a = Vec::new();
        a.extend_from_slice(&((4 + value.len()) as u16).to_ne_bytes());
        a.extend_from_slice(&kind.to_ne_bytes());
        a.extend_from_slice(value);
        a.resize(align4(a.len()), 0);
        a
    }

    fn message(kind: u16, payload: &[u8]) -> Vec<u8> {
        let mut m = Vec::new();
        m.extend_from_slice(&((HEADER_LEN + payload.len()) as u32).to_ne_bytes());
        m.extend_from_slice(&kind.to_ne_bytes());
        m.extend_from_slice(&[0; 10]);
        m.extend_from_slice(payload);
        m.resize(align4(m.len()), 0);
        m
    }

    #[test]
    fn replies_give_each_named_socket_its_queue() {
        let mut rq = Vec::new();
        rq.extend_from_slice(&3u32.to_ne_bytes());
        rq.extend_from_slice(&100u32.to_ne_bytes());
        let mut socket = vec![0u8; DIAG_MSG_LEN];
        socket.extend(attr(UNIX_DIAG_NAME, b"/run/wsgi.sock"));
        socket.extend(attr(UNIX_DIAG_RQLEN, &rq));
        let mut abstract_name = vec![0u8; DIAG_MSG_LEN];
        abstract_name.extend(attr(UNIX_DIAG_NAME, b"\0hidden"));
        abstract_name.extend(attr(UNIX_DIAG_RQLEN, &rq));
        let mut reply = message(SOCK_DIAG_BY_FAMILY, &socket);
        reply.extend(message(SOCK_DIAG_BY_FAMILY, &abstract_name));
        let mut found = HashMap::new();
        assert!(parse_reply(&reply, &mut found).unwrap());
        assert_eq!(
            found.get("/run/wsgi.sock"),
            Some(&ListenQueue {
                waiting: 3,
                backlog: 100
            })
        );
        assert_eq!(found.len(), 1);
        assert!(!parse_reply(&message(NLMSG_DONE, &[0; 4]), &mut found).unwrap());
        let refused = message(NLMSG_ERROR, &(-libc::EPERM).to_ne_bytes());
        assert_eq!(
            parse_reply(&refused, &mut found)
                .unwrap_err()
                .raw_os_error(),
            Some(libc::EPERM)
        );
        assert!(parse_reply(
            &[1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            &mut found
        )
        .is_err());
    }

    #[test]
    fn a_listening_socket_of_this_process_is_found() {
        let dir = std::env::temp_dir().join(format!("sockdiag-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("l.sock");
        let _ = std::fs::remove_file(&path);
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let _waiting = std::os::unix::net::UnixStream::connect(&path).unwrap();
        let queues = unix_listen_queues().unwrap();
        let queue = queues[path.to_str().unwrap()];
        assert_eq!(queue.waiting, 1);
        assert!(queue.backlog > 0);
        drop(listener);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
