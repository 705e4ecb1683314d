//! Where audit lines go: a file (reopened on SIGHUP so that log rotation works), standard
//! output, nowhere (`discard`), or a TCP/UDP socket. Each write is one whole line, so lines from
//! concurrent requests never interleave.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::net::{TcpStream, ToSocketAddrs, UdpSocket};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

#[derive(Debug)]
pub enum Sink {
    File {
        path: PathBuf,
        mode: u32,
        file: Mutex<Option<File>>,
    },
    Stdout,
    Discard,
    Socket {
        address: String,
        udp: bool,
        timeout: Duration,
        conn: Mutex<Option<Conn>>,
    },
}

#[derive(Debug)]
pub enum Conn {
    Tcp(TcpStream),
    Udp(UdpSocket),
}

impl Sink {
    /// A file sink; with `open_now`, a path that cannot be written is refused here.
    pub fn file(path: &str, mode: u32, open_now: bool) -> std::io::Result<Sink> {
        let sink = Sink::File {
            path: PathBuf::from(path),
            mode,
            file: Mutex::new(None),
        };
        if open_now {
            sink.reopen()?;
        }
        Ok(sink)
    }

    pub fn socket(
        address: &str,
        socket_type: &str,
        timeout: Duration,
        connect_now: bool,
    ) -> std::io::Result<Sink> {
        let udp = match socket_type {
            "tcp" | "" => false,
            "udp" => true,
            other => {
                return Err(std::io::Error::other(format!(
                    "unsupported socket_type \"{other}\""
                )))
            }
        };
        let sink = Sink::Socket {
            address: address.to_owned(),
            udp,
            timeout,
            conn: Mutex::new(None),
        };
        if connect_now {
            sink.reopen()?;
        }
        Ok(sink)
    }

    fn open_file(path: &PathBuf, mode: u32) -> std::io::Result<File> {
        let mut opts = OpenOptions::new();
        opts.create(true).append(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(mode);
        }
        let f = opts.open(path)?;
        // Only a regular file gets the mode; `/dev/stderr` and the like keep their own.
        #[cfg(unix)]
        if mode != 0 && f.metadata()?.is_file() {
            use std::os::unix::fs::PermissionsExt;
            f.set_permissions(std::fs::Permissions::from_mode(mode))?;
        }
        Ok(f)
    }

    fn connect(address: &str, udp: bool, timeout: Duration) -> std::io::Result<Conn> {
        let addr = address
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| std::io::Error::other(format!("cannot resolve {address}")))?;
        if udp {
            let s = UdpSocket::bind(if addr.is_ipv4() {
                "0.0.0.0:0"
            } else {
                "[::]:0"
            })?;
            s.connect(addr)?;
            Ok(Conn::Udp(s))
        } else {
            let s = TcpStream::connect_timeout(&addr, timeout)?;
            s.set_write_timeout(Some(timeout))?;
            Ok(Conn::Tcp(s))
        }
    }

    /// Reopens the file (after rotation) or reconnects the socket.
    pub fn reopen(&self) -> std::io::Result<()> {
        match self {
            Sink::File { path, mode, file } => {
                let mut guard = file.lock().unwrap_or_else(|p| p.into_inner());
                // On failure the old handle is dropped too: writes then retry the path, and fail
                // (closed) until it can be opened again.
                *guard = None;
                *guard = Some(Self::open_file(path, *mode)?);
                Ok(())
            }
            Sink::Socket {
                address,
                udp,
                timeout,
                conn,
            } => {
                let c = Self::connect(address, *udp, *timeout)?;
                *conn.lock().unwrap_or_else(|p| p.into_inner()) = Some(c);
                Ok(())
            }
            Sink::Stdout | Sink::Discard => Ok(()),
        }
    }

    /// Writes one line. A socket that broke is reconnected once before giving up.
    pub fn write_line(&self, line: &[u8]) -> std::io::Result<()> {
        match self {
            Sink::Discard => Ok(()),
            Sink::Stdout => std::io::stdout().lock().write_all(line),
            Sink::File { path, mode, file } => {
                let mut guard = file.lock().unwrap_or_else(|p| p.into_inner());
                if guard.is_none() {
                    *guard = Some(Self::open_file(path, *mode)?);
                }
                match guard.as_mut() {
                    Some(f) => f.write_all(line),
                    None => Err(std::io::Error::other("audit file is not open")),
                }
            }
            Sink::Socket {
                address,
                udp,
                timeout,
                conn,
            } => {
                let mut guard = conn.lock().unwrap_or_else(|p| p.into_inner());
                for attempt in 0..2 {
                    if guard.is_none() {
                        *guard = Some(Self::connect(address, *udp, *timeout)?);
                    }
                    let result = match guard.as_mut() {
                        Some(Conn::Tcp(s)) => s.write_all(line),
                        Some(Conn::Udp(s)) => s.send(line).map(|_| ()),
                        None => Err(std::io::Error::other("audit socket is not connected")),
                    };
                    match result {
                        Ok(()) => return Ok(()),
                        Err(e) if attempt == 1 => return Err(e),
                        Err(_) => *guard = None,
                    }
                }
                Err(std::io::Error::other("audit socket write failed"))
            }
        }
    }
}
