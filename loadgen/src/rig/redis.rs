//! A throwaway `redis-server` for runs that use the Redis policy store: ephemeral
//! port, no persistence, killed with the run.
//!
//! A missing binary is the most likely failure on a fresh machine, so it gets its own
//! error naming the package to install, instead of a bare "No such file".

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::children::ChildGuard;
use super::error::RigError;
use super::pin;

/// The Debian package that provides `redis-server`.
pub const REDIS_PACKAGE: &str = "redis-server";

/// Finds `program`: as given when it contains a `/`, else on `PATH`.
pub fn find_program(program: &Path) -> Option<PathBuf> {
    if program.components().count() > 1 || program.is_absolute() {
        return program.is_file().then(|| program.to_path_buf());
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(program))
            .find(|p| p.is_file())
    })
}

/// Binds port 0 on loopback and returns the address the kernel chose, releasing it for
/// a child to bind. (The child binds it a moment later; nothing else on a test
/// machine grabs a just-released ephemeral port in between.)
pub fn free_local_addr() -> Result<SocketAddr, RigError> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|source| RigError::Io {
        what: "bind an ephemeral port".into(),
        cause: source,
    })?;
    listener.local_addr().map_err(|source| RigError::Io {
        what: "read an ephemeral port".into(),
        cause: source,
    })
}

/// A running redis-server.
#[derive(Debug)]
pub struct RedisServer {
    /// The process guard (kills redis when dropped).
    pub child: ChildGuard,
    /// Where it listens.
    pub addr: SocketAddr,
}

impl RedisServer {
    /// The URL the proxy connects to.
    pub fn url(&self) -> String {
        format!("redis://{}", self.addr)
    }
}

/// Starts `bin` on an ephemeral loopback port (pinned to `cpus` when given), with its
/// stderr in `log`, and waits until it answers PING.
pub fn start(
    bin: &Path,
    cpus: Option<&[usize]>,
    log: PathBuf,
    timeout: Duration,
) -> Result<RedisServer, RigError> {
    let path = find_program(bin).ok_or_else(|| RigError::MissingProgram {
        program: bin.display().to_string(),
        hint: format!(
            "the profile uses the Redis store; install the Debian package `{REDIS_PACKAGE}` \
             (apt-get install {REDIS_PACKAGE}) or pass --redis-bin"
        ),
    })?;
    let addr = free_local_addr()?;
    let mut cmd = pin::command(path.as_os_str(), cpus);
    cmd.args(["--bind", "127.0.0.1", "--port", &addr.port().to_string()])
        .args([
            "--save",
            "",
            "--appendonly",
            "no",
            "--protected-mode",
            "yes",
        ]);
    let mut child = ChildGuard::spawn("redis-server", cmd, Some(log))?;
    let deadline = Instant::now() + timeout;
    loop {
        if ping(addr) {
            return Ok(RedisServer { child, addr });
        }
        if let Some(status) = child.try_exit_status() {
            return Err(RigError::ChildFailed {
                name: "redis-server".into(),
                status: status.to_string(),
                stderr: child.stderr_tail(2000),
            });
        }
        if Instant::now() >= deadline {
            return Err(RigError::NotReady {
                name: "redis-server".into(),
                waited_s: timeout.as_secs(),
                stderr: child.stderr_tail(2000),
            });
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether a Redis at `addr` answers `PING` with `+PONG`.
pub fn ping(addr: SocketAddr) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    let mut buf = [0u8; 16];
    s.write_all(b"PING\r\n").is_ok()
        && s.read(&mut buf)
            .map(|n| buf[..n].starts_with(b"+PONG"))
            .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_binary_names_the_package() {
        let dir = tempfile::tempdir().unwrap();
        let err = start(
            Path::new("/nonexistent/redis-server"),
            None,
            dir.path().join("redis.log"),
            Duration::from_secs(1),
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("apt-get install redis-server"), "{text}");
    }

    #[test]
    fn finds_programs_on_path() {
        assert!(find_program(Path::new("sh")).is_some());
        assert!(find_program(Path::new("no-such-program-here")).is_none());
    }

    #[test]
    fn starts_and_kills_a_real_redis() {
        if find_program(Path::new("redis-server")).is_none() {
            panic!("redis-server must be installed for this test (Debian package redis-server)");
        }
        let dir = tempfile::tempdir().unwrap();
        let redis = start(
            Path::new("redis-server"),
            None,
            dir.path().join("redis.log"),
            Duration::from_secs(10),
        )
        .unwrap();
        let (pid, addr) = (redis.child.pid(), redis.addr);
        assert!(ping(addr));
        drop(redis);
        assert!(!super::super::children::pid_alive(pid));
        assert!(!ping(addr));
    }
}
