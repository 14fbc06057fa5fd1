//! Reading a config file with a size cap. A repository's `.flightdeck.toml` is read before
//! anyone has trusted it, so it must not be able to make us read forever (a link to
//! `/dev/zero`) or wait forever (a FIFO): only regular files are read, and at most `MAX_BYTES`.

use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// The largest config file read; real ones are a few kB.
pub const MAX_BYTES: u64 = 1024 * 1024;

/// Why a config file was not read.
#[derive(Debug)]
pub enum ReadError {
    NotFound,
    Io(std::io::Error),
    /// Not a regular file, or too large: the sentence says which.
    Unusable(String),
}

/// The file's text; `NotFound` when there is none.
pub fn read(path: &Path) -> Result<String, ReadError> {
    read_capped(path, MAX_BYTES)
}

fn read_capped(path: &Path, cap: u64) -> Result<String, ReadError> {
    // Non-blocking, so opening a FIFO returns at once instead of waiting for a writer.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => ReadError::NotFound,
            _ => ReadError::Io(e),
        })?;
    let meta = file.metadata().map_err(ReadError::Io)?;
    let kind = meta.file_type();
    if !kind.is_file() {
        let what = if kind.is_char_device() {
            "a character device"
        } else if kind.is_block_device() {
            "a block device"
        } else if kind.is_fifo() {
            "a FIFO"
        } else if kind.is_socket() {
            "a socket"
        } else if kind.is_dir() {
            "a directory"
        } else {
            "something else"
        };
        return Err(ReadError::Unusable(format!(
            "it is not a regular file (it is {what}); flightdeck reads only regular files as config"
        )));
    }
    let too_large = || {
        ReadError::Unusable(format!(
            "it is larger than {} MiB, the most flightdeck reads from a config file",
            cap / (1024 * 1024)
        ))
    };
    if meta.len() > cap {
        return Err(too_large());
    }
    // The file may grow after the stat: read one byte past the cap to see it.
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(cap + 1)
        .read_to_end(&mut bytes)
        .map_err(ReadError::Io)?;
    if bytes.len() as u64 > cap {
        return Err(too_large());
    }
    String::from_utf8(bytes).map_err(|e| {
        ReadError::Io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            e.utf8_error(),
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_small_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(&p, "a = 1\n").unwrap();
        assert_eq!(read(&p).unwrap(), "a = 1\n");
    }

    #[test]
    fn a_missing_file_is_not_found() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            read(&dir.path().join("none.toml")),
            Err(ReadError::NotFound)
        ));
    }

    #[test]
    fn a_file_past_the_cap_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(&p, vec![b'#'; 2 * 1024 * 1024 + 1]).unwrap();
        let Err(ReadError::Unusable(why)) = read_capped(&p, 2 * 1024 * 1024) else {
            panic!("read a file past the cap");
        };
        assert!(why.contains("larger than 2 MiB"), "{why}");
    }

    #[test]
    fn devices_and_fifos_are_refused_without_blocking() {
        let Err(ReadError::Unusable(why)) = read(Path::new("/dev/zero")) else {
            panic!("read /dev/zero");
        };
        assert!(why.contains("a character device"), "{why}");
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        let Err(ReadError::Unusable(why)) = read(&fifo) else {
            panic!("read a FIFO");
        };
        assert!(why.contains("a FIFO"), "{why}");
    }
}
