//! Files nndl writes and reads, handled so that no run is lost and no file
//! is trusted: outputs checked before any work, written atomically, inputs
//! checked against what they claim.
//!
//! An output is replaced by writing a temporary file beside its target
//! (`.NAME.nndl-PID.tmp`) and renaming it over: a reader sees the old file
//! or the new one, never a part. The target keeps its permission bits, and
//! a symlink is followed, so the file it points to is the one replaced.
//! Temporary files left by an nndl that died are recognised by that name
//! and removed by the next run that writes into the same directory.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The largest model or checkpoint file nndl reads: a [784, 800, 10]
/// checkpoint is about 40 MB.
pub const MAX_READ: u64 = 1 << 30;

/// What `path` names once symlinks are followed: the file to replace.
/// A path that does not exist yet stands for itself.
pub fn target(path: &Path) -> Result<PathBuf> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => match fs::canonicalize(path) {
            Ok(t) => Ok(t),
            Err(_) => Err(Error::invalid(
                path,
                "is a symlink to nothing; remove it or name another file",
            )),
        },
        _ => Ok(path.to_path_buf()),
    }
}

/// Checks, before any work, that `path` can be written: an existing target
/// must be a regular file, and its directory must take a new file (a probe
/// file is created there, then removed). Returns the target.
pub fn check_output(path: &Path) -> Result<PathBuf> {
    let target = target(path)?;
    if let Ok(m) = fs::metadata(&target) {
        let kind = m.file_type();
        if kind.is_dir() {
            return Err(Error::invalid(path, "is a directory, not a file"));
        }
        if !kind.is_file() {
            return Err(Error::invalid(
                path,
                format!(
                    "is {}, not a regular file: nndl will not replace it",
                    kind_name(&m)
                ),
            ));
        }
    }
    let dir = parent_dir(&target);
    if !dir.is_dir() {
        return Err(Error::invalid(
            path,
            format!("cannot write here: no directory {}", dir.display()),
        ));
    }
    remove_stale(&dir);
    let probe = temporary(&target, "probe");
    match OpenOptions::new().write(true).create_new(true).open(&probe) {
        Ok(_) => {
            let _ = fs::remove_file(&probe);
            Ok(target)
        }
        Err(e) => Err(Error::invalid(
            path,
            format!("cannot write in {}: {}", dir.display(), plain(&e)),
        )),
    }
}

/// Checks the outputs `named` (flag, path) as `check_output` does, and
/// that no two are the same file.
pub fn check_outputs(named: &[(&str, &Path)]) -> Result<()> {
    let mut seen: Vec<(&str, PathBuf)> = Vec::new();
    for &(flag, path) in named {
        let target = check_output(path)?;
        let same = identity(&target);
        if let Some((other, _)) = seen.iter().find(|(_, t)| *t == same) {
            return Err(Error::Usage(format!(
                "{flag} {}: the same file as {other}; give each output its own file",
                path.display()
            )));
        }
        seen.push((flag, same));
    }
    Ok(())
}

/// A path that is the same for two names of one file: its directory
/// resolved, and its name.
fn identity(target: &Path) -> PathBuf {
    let dir = fs::canonicalize(parent_dir(target)).unwrap_or_else(|_| parent_dir(target));
    match target.file_name() {
        Some(name) => dir.join(name),
        None => dir,
    }
}

/// Writes `bytes` to a temporary file beside `path`'s target, then renames
/// it over the target, which keeps its permission bits.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let target = target(path)?;
    let tmp = temporary(&target, "tmp");
    let mode = fs::metadata(&target).ok().map(|m| m.permissions());
    let written = (|| {
        let mut out = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        out.write_all(bytes)?;
        if let Some(mode) = mode {
            out.set_permissions(mode)?;
        }
        out.sync_all()?;
        fs::rename(&tmp, &target)
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(Error::io(path, e));
    }
    Ok(())
}

/// Reads a model or checkpoint: a regular file (or a symlink to one) of at
/// most `MAX_READ` bytes, UTF-8, a byte-order mark skipped.
pub fn read_text(path: &Path) -> Result<String> {
    let m = check_input(path)?;
    if m.len() > MAX_READ {
        return Err(Error::invalid(
            path,
            format!(
                "is {:.1} GB; nndl reads model and checkpoint files of at most {} GB",
                m.len() as f64 / 1e9,
                MAX_READ >> 30
            ),
        ));
    }
    let mut bytes = Vec::with_capacity(m.len() as usize);
    File::open(path)
        .and_then(|f| f.take(MAX_READ + 1).read_to_end(&mut bytes))
        .map_err(|e| Error::io(path, e))?;
    if bytes.len() as u64 > MAX_READ {
        return Err(Error::invalid(path, "grew past the size nndl reads"));
    }
    let text = String::from_utf8(bytes).map_err(|e| {
        Error::invalid(
            path,
            format!("is not UTF-8 text (byte {})", e.utf8_error().valid_up_to()),
        )
    })?;
    Ok(match text.strip_prefix('\u{feff}') {
        Some(rest) => rest.to_string(),
        None => text,
    })
}

/// Checks that an input is a regular file, or a symlink to one; returns
/// its metadata.
pub fn check_input(path: &Path) -> Result<fs::Metadata> {
    let m = fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if m.is_file() {
        Ok(m)
    } else if m.is_dir() {
        Err(Error::invalid(path, "is a directory, not a file"))
    } else {
        Err(Error::invalid(
            path,
            format!("is {}, not a regular file", kind_name(&m)),
        ))
    }
}

/// `.NAME.nndl-PID.KIND` beside `target`.
fn temporary(target: &Path, kind: &str) -> PathBuf {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    parent_dir(target).join(format!(".{name}.nndl-{}.{kind}", std::process::id()))
}

/// Removes the temporary files in `dir` of nndl processes no longer running.
fn remove_stale(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = stale_pid(&name.to_string_lossy()) else {
            continue;
        };
        let alive = Path::new("/proc").join(pid.to_string()).exists();
        if pid != std::process::id() && !alive {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// The process id in a temporary file's name `.NAME.nndl-PID.tmp`.
fn stale_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix('.')?;
    let rest = rest
        .strip_suffix(".tmp")
        .or_else(|| rest.strip_suffix(".probe"))?;
    let (_, pid) = rest.rsplit_once(".nndl-")?;
    pid.parse().ok()
}

fn kind_name(m: &fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = m.file_type();
    if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else {
        "a special file"
    }
}

/// An I/O error without Rust's "(os error N)".
fn plain(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

pub fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_names_are_recognised() {
        let t = temporary(Path::new("/x/model.json"), "tmp");
        let name = t.file_name().unwrap().to_string_lossy().into_owned();
        assert_eq!(stale_pid(&name), Some(std::process::id()));
        assert_eq!(stale_pid(".model.json.nndl-12.probe"), Some(12));
        assert_eq!(stale_pid("model.json"), None);
        assert_eq!(stale_pid(".model.json.12.tmp"), None);
    }
}
