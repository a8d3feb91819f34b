//! Bounded reading of the files we take from the outside world (`.npy`, `.safetensors`, and through
//! [`open_regular`] the model's TOML configuration).
//!
//! Only regular files are read. The path's type is checked with `metadata` *before* it is opened,
//! because opening a FIFO that has no writer blocks forever, and a stream (a pipe, `/dev/stdin`,
//! `<(...)`, a device) has no length to check a header's claims against: a pipe claiming a huge shape
//! would be read, and allocated, without limit. Pipes and devices are therefore refused with an error
//! that names the path and what it is ("give a file"); save a stream to a file first. (`/dev/stdin`
//! redirected from a file, `< w.npy`, is that regular file and is read.)
//!
//! A [`Source`] knows the real length of its file, so a reader compares the size a header claims with
//! it *before* allocating anything, and every read is bounded by that claim as well (`take`), so a file
//! that grows while it is read cannot make us read on. Bytes held in memory read through the same
//! code, which is what the property tests feed.

use crate::error::{CompressError, Result};
use std::fs::{File, FileType};
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

/// Why an input path was not opened.
#[derive(Debug)]
pub enum OpenError {
    /// `metadata` or `open` failed (a missing file, no permission, ...).
    Io(std::io::Error),
    /// The path is not a regular file; what it is, in words ("a directory", "a FIFO (named pipe)", ...).
    NotRegular(&'static str),
}

impl OpenError {
    /// The one-line reason, `kind` naming what was expected ("a .npy file"): a directory "is a directory,
    /// not a .npy file"; anything else is "not a regular file (a FIFO (named pipe)); give a .npy file
    /// (pipes, /dev/stdin and devices are refused)". Paths are not part of it (callers add them).
    pub fn reason(&self, kind: &str) -> String {
        match self {
            Self::Io(e) => e.to_string(),
            Self::NotRegular(what @ "a directory") => format!("is {what}, not {kind}"),
            Self::NotRegular(what) => format!(
                "not a regular file ({what}); give {kind} (pipes, /dev/stdin and devices are refused)"
            ),
        }
    }
}

/// What a file type is, in words, for a refusal.
fn type_words(t: FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if t.is_char_device() {
            return "a character device";
        }
        if t.is_block_device() {
            return "a block device";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    if t.is_dir() {
        "a directory"
    } else if t.is_file() {
        "a regular file"
    } else {
        "not a file"
    }
}

/// Opens `path` for reading if, and only if, it is a regular file (symbolic links followed), and returns
/// it with its length.
///
/// The type is checked before `open` (so a FIFO never blocks us), and again on the opened file, which
/// must be the very file that was checked (a path swapped for another in between is refused). One race
/// is left: a path replaced by a FIFO between the two steps still blocks in `open`; only an attacker who
/// can write the folder can do that, and they could as well give a huge regular file.
pub fn open_regular(path: &Path) -> std::result::Result<(File, u64), OpenError> {
    let before = std::fs::metadata(path).map_err(OpenError::Io)?;
    if !before.is_file() {
        return Err(OpenError::NotRegular(type_words(before.file_type())));
    }
    let file = File::open(path).map_err(OpenError::Io)?;
    let after = file.metadata().map_err(OpenError::Io)?;
    if !after.is_file() {
        return Err(OpenError::NotRegular(type_words(after.file_type())));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if (before.dev(), before.ino()) != (after.dev(), after.ino()) {
            return Err(OpenError::Io(std::io::Error::other(
                "the file was replaced while it was being opened",
            )));
        }
    }
    Ok((file, after.len()))
}

enum Reader<'a> {
    File(BufReader<File>),
    Bytes(&'a [u8]),
}

/// A regular file (or in-memory image of one) being read front to back.
pub(crate) struct Source<'a> {
    path: PathBuf,
    reader: Reader<'a>,
    /// Length in bytes, as `metadata` gave it when the file was opened.
    len: u64,
    /// Bytes consumed so far.
    pos: u64,
}

impl<'a> Source<'a> {
    /// Opens `path`, which must be a regular file ([`open_regular`]); `kind` (e.g. "a .npy file")
    /// words the refusal of anything else.
    pub(crate) fn open(path: &Path, kind: &str) -> Result<Source<'static>> {
        let (file, len) = open_regular(path).map_err(|e| match e {
            OpenError::Io(e) => CompressError::io(path, "reading", e),
            e => CompressError::bad_file(path, e.reason(kind)),
        })?;
        Ok(Source {
            path: path.to_path_buf(),
            reader: Reader::File(BufReader::with_capacity(1 << 16, file)),
            len,
            pos: 0,
        })
    }

    /// An in-memory image of a file; `path` only labels errors.
    pub(crate) fn bytes(path: &Path, bytes: &'a [u8]) -> Self {
        Source {
            path: path.to_path_buf(),
            reader: Reader::Bytes(bytes),
            len: bytes.len() as u64,
            pos: 0,
        }
    }

    /// The file's path (for error messages).
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes consumed so far.
    pub(crate) fn pos(&self) -> u64 {
        self.pos
    }

    /// Bytes left after the current position (by the length the file had when opened).
    pub(crate) fn remaining(&self) -> u64 {
        self.len.saturating_sub(self.pos)
    }

    fn io_error(&self, e: std::io::Error) -> CompressError {
        CompressError::io(&self.path, "reading", e)
    }

    /// Reads up to `n` bytes (fewer only at the end of the file). Allocates no more than the bytes
    /// that actually arrive, so a large `n` from a header costs nothing until the data is there.
    pub(crate) fn read_upto(&mut self, n: u64) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        let got = match &mut self.reader {
            Reader::File(f) => f.by_ref().take(n).read_to_end(&mut out),
            Reader::Bytes(b) => b.by_ref().take(n).read_to_end(&mut out),
        }
        .map_err(|e| self.io_error(e))?;
        self.pos += got as u64;
        Ok(out)
    }

    /// Fills `buf` completely; `Ok(false)` when the file ends first (the bytes that did arrive are
    /// consumed).
    pub(crate) fn fill(&mut self, buf: &mut [u8]) -> Result<bool> {
        let mut filled = 0;
        while filled < buf.len() {
            let r = match &mut self.reader {
                Reader::File(f) => f.read(&mut buf[filled..]),
                Reader::Bytes(b) => b.read(&mut buf[filled..]),
            };
            match r {
                Ok(0) => {
                    self.pos += filled as u64;
                    return Ok(false);
                }
                Ok(k) => filled += k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.io_error(e)),
            }
        }
        self.pos += filled as u64;
        Ok(true)
    }

    /// Skips `n` bytes (a seek on files). `Ok(false)` when the file ends first.
    pub(crate) fn skip(&mut self, n: u64) -> Result<bool> {
        if n == 0 {
            return Ok(true);
        }
        if n > self.remaining() {
            return Ok(false);
        }
        let skipped = match &mut self.reader {
            Reader::File(f) => {
                // n <= the remaining length of a real file, far below i64::MAX.
                let Ok(off) = i64::try_from(n) else {
                    return Ok(false);
                };
                f.seek_relative(off).map_err(|e| self.io_error(e))?;
                n
            }
            Reader::Bytes(b) => {
                let k = (n.min(b.len() as u64)) as usize;
                *b = &b[k..];
                k as u64
            }
        };
        self.pos += skipped;
        Ok(skipped == n)
    }
}

/// Little-endian f32 values of `bytes` (a multiple of 4 long) appended to `out`, optionally
/// byte-swapped from big-endian.
pub(crate) fn push_f32s(out: &mut Vec<f32>, bytes: &[u8], big_endian: bool) {
    debug_assert_eq!(bytes.len() % 4, 0);
    out.extend(bytes.chunks_exact(4).map(|c| {
        let b = [c[0], c[1], c[2], c[3]];
        if big_endian {
            f32::from_be_bytes(b)
        } else {
            f32::from_le_bytes(b)
        }
    }));
}

/// Reads `count` f32 values (`count * 4` bytes, which the caller has checked against the file's
/// length) in chunks, so that at most the values themselves are held; `Ok(Err(bytes))` when the file
/// ends first (with how many bytes did arrive). The values' vector is reserved fallibly: a (sparse)
/// file too large for this machine's memory is an error, not an abort.
pub(crate) fn read_f32s(
    src: &mut Source<'_>,
    count: usize,
    big_endian: bool,
) -> Result<std::result::Result<Vec<f32>, u64>> {
    const CHUNK: usize = 1 << 16;
    let mut out = Vec::new();
    if out.try_reserve_exact(count).is_err() {
        return Err(CompressError::bad_file(
            src.path(),
            format!(
                "its {count} float32 values ({} bytes) do not fit this machine's memory",
                count as u128 * 4
            ),
        ));
    }
    let mut buf = vec![0u8; CHUNK];
    let mut left = count;
    while left > 0 {
        let n = left.min(CHUNK / 4);
        let start = src.pos();
        if !src.fill(&mut buf[..n * 4])? {
            let got = (out.len() * 4) as u64 + (src.pos() - start);
            return Ok(Err(got));
        }
        push_f32s(&mut out, &buf[..n * 4], big_endian);
        left -= n;
    }
    Ok(Ok(out))
}
