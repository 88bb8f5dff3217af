//! The library's error type: every message names the file or flag at fault.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

#[derive(Debug)]
pub enum Error {
    /// A flag or argument is wrong: the binary exits with status 2.
    Usage(String),
    /// A file could not be opened, read or written.
    Io { path: PathBuf, source: io::Error },
    /// A file was read but its content is wrong.
    Invalid { path: PathBuf, message: String },
    /// A network's layer sizes are refused: empty, or too large for memory.
    Size(String),
    /// Training produced a value that is not finite.
    Diverged { epoch: usize, what: String },
    /// A signal stopped the run: what was kept, and the exit status.
    Interrupted { message: String, status: u8 },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn io(path: &Path, source: io::Error) -> Self {
        Error::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    pub fn invalid(path: &Path, message: impl Into<String>) -> Self {
        Error::Invalid {
            path: path.to_path_buf(),
            message: message.into(),
        }
    }

    /// 2 for usage errors, 1 for the rest, as command-line tools do.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage(_) => 2,
            Error::Interrupted { status, .. } => *status,
            _ => 1,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(message) | Error::Size(message) => f.write_str(message),
            Error::Interrupted { message, .. } => f.write_str(message),
            Error::Io { path, source } => {
                let what = match source.kind() {
                    io::ErrorKind::NotFound => "no such file".to_string(),
                    io::ErrorKind::UnexpectedEof => "file ends early (truncated)".to_string(),
                    _ => source.to_string(),
                };
                write!(f, "{}: {what}", path.display())
            }
            Error::Invalid { path, message } => write!(f, "{}: {message}", path.display()),
            Error::Diverged { epoch, what } => write!(
                f,
                "training diverged in epoch {epoch}: {what}; try a smaller --eta"
            ),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
