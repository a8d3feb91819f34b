//! Bounded reading of the files we take from the outside world (`.npy`, `.safetensors`).
//!
//! A [`Source`] knows the real length of a regular file, so a reader compares the size a header claims
//! with it *before* allocating anything; a stream (a pipe, `/dev/stdin`, a device) has no length, and
//! every read from it is bounded by what the header claims (`take`), so a hostile or endless stream
//! cannot make us allocate more than the header's claim, nor read forever. Directories are refused by
//! name. Bytes held in memory read through the same code, which is what the property tests feed.

use crate::error::{CompressError, Result};
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

enum Reader<'a> {
    File(BufReader<File>),
    Bytes(&'a [u8]),
}

/// A file (or in-memory image of one) being read front to back.
pub(crate) struct Source<'a> {
    path: PathBuf,
    reader: Reader<'a>,
    /// Length in bytes, for regular files and in-memory images; `None` for streams.
    len: Option<u64>,
    /// Bytes consumed so far.
    pos: u64,
}

impl<'a> Source<'a> {
    /// Opens `path`; `kind` (e.g. "a .npy file") words the refusal of a directory.
    pub(crate) fn open(path: &Path, kind: &str) -> Result<Source<'static>> {
        let meta = std::fs::metadata(path).map_err(|e| CompressError::io(path, "reading", e))?;
        if meta.is_dir() {
            return Err(CompressError::bad_file(
                path,
                format!("is a directory, not {kind}"),
            ));
        }
        let file = File::open(path).map_err(|e| CompressError::io(path, "reading", e))?;
        Ok(Source {
            path: path.to_path_buf(),
            reader: Reader::File(BufReader::with_capacity(1 << 16, file)),
            len: meta.is_file().then_some(meta.len()),
            pos: 0,
        })
    }

    /// An in-memory image of a file; `path` only labels errors.
    pub(crate) fn bytes(path: &Path, bytes: &'a [u8]) -> Self {
        Source {
            path: path.to_path_buf(),
            reader: Reader::Bytes(bytes),
            len: Some(bytes.len() as u64),
            pos: 0,
        }
    }

    /// The file's path (for error messages).
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The total length, when known (regular files and in-memory images).
    pub(crate) fn len(&self) -> Option<u64> {
        self.len
    }

    /// Bytes consumed so far.
    pub(crate) fn pos(&self) -> u64 {
        self.pos
    }

    /// Bytes left after the current position, when the length is known.
    pub(crate) fn remaining(&self) -> Option<u64> {
        self.len.map(|l| l.saturating_sub(self.pos))
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

    /// Skips `n` bytes: a seek on regular files, a bounded read-and-discard on streams. `Ok(false)`
    /// when the file ends first.
    pub(crate) fn skip(&mut self, n: u64) -> Result<bool> {
        if n == 0 {
            return Ok(true);
        }
        if let Some(rem) = self.remaining()
            && n > rem
        {
            return Ok(false);
        }
        let skipped = match &mut self.reader {
            Reader::File(f) if self.len.is_some() => {
                // n <= the remaining length of a real file, far below i64::MAX.
                let Ok(off) = i64::try_from(n) else {
                    return Ok(false);
                };
                f.seek_relative(off).map_err(|e| self.io_error(e))?;
                n
            }
            Reader::File(f) => std::io::copy(&mut f.by_ref().take(n), &mut std::io::sink())
                .map_err(|e| self.io_error(e))?,
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

/// Reads `count` f32 values (`count * 4` bytes) in chunks, so that at most the values themselves are
/// held; `Ok(None)` when the file ends first (with how many bytes did arrive).
pub(crate) fn read_f32s(
    src: &mut Source<'_>,
    count: usize,
    big_endian: bool,
) -> Result<std::result::Result<Vec<f32>, u64>> {
    const CHUNK: usize = 1 << 16;
    // A regular file's length was checked against `count` by the caller; a stream's was not, so its
    // vector grows with the data that arrives.
    let reserve = if src.len().is_some() {
        count
    } else {
        count.min(CHUNK)
    };
    let mut out = Vec::with_capacity(reserve);
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
