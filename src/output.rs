//! Writing output files safely: each file is written to a temporary file in the same folder and renamed
//! into place, so that an interrupted or failed write never leaves a truncated file under the final name;
//! and a folder of output remembers, in a manifest, which files the last run wrote, so that a new run
//! removes exactly those it does not write again (never a file the tool did not write).

use anyhow::{Context, Result, bail};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Writes `bytes` to `path` atomically (temporary file in the same folder, flushed, then renamed).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .with_context(|| format!("{}: not a file name", path.display()))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("writing {}", path.display()));
    }
    Ok(())
}

/// Removes the temporary files (`.NAME.tmp-PID`) and export folders (`.eie-export-PID`) that a run of
/// ours left in `dir` when it was killed (Ctrl-C, SIGKILL) before it could clean up: only those whose
/// process no longer exists (Linux: no `/proc/PID`); elsewhere nothing is removed.
fn remove_orphans(dir: &Path) {
    if !Path::new("/proc/self").exists() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix('.') else {
            continue;
        };
        let pid = match (rest.strip_prefix("eie-export-"), rest.rsplit_once(".tmp-")) {
            (Some(pid), _) => pid,
            (None, Some((_, pid))) => pid,
            _ => continue,
        };
        let Ok(pid) = pid.parse::<u32>() else {
            continue;
        };
        if pid == std::process::id() || Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        let p = e.path();
        let _ = if p.is_dir() {
            std::fs::remove_dir_all(&p)
        } else {
            std::fs::remove_file(&p)
        };
    }
}

/// The manifest's name in an output folder.
pub const MANIFEST: &str = ".eie-manifest";

/// An output folder: files are written atomically and listed; [`OutDir::finish`] removes what the
/// previous run listed and this one did not write, then writes the new list.
pub struct OutDir {
    dir: PathBuf,
    written: Vec<String>,
    /// Paths this run must not overwrite (its inputs).
    inputs: Vec<PathBuf>,
}

impl OutDir {
    /// Creates `dir` if needed. `inputs` are files this run reads: writing onto one is refused.
    pub fn create(dir: &Path, inputs: &[PathBuf]) -> Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        remove_orphans(dir);
        Ok(Self {
            dir: dir.to_path_buf(),
            written: Vec::new(),
            inputs: inputs
                .iter()
                .map(|p| std::fs::canonicalize(p).unwrap_or_else(|_| p.clone()))
                .collect(),
        })
    }

    /// The path of `name` in the folder.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Refuses `name` when it is one of this run's inputs.
    fn guard(&self, name: &str) -> Result<PathBuf> {
        let p = self.path(name);
        if let Ok(c) = std::fs::canonicalize(&p)
            && self.inputs.contains(&c)
        {
            bail!(
                "{}: is an input of this run; refusing to overwrite it (choose another --out)",
                p.display()
            );
        }
        Ok(p)
    }

    /// Writes `name` atomically.
    pub fn put(&mut self, name: &str, bytes: &[u8]) -> Result<()> {
        let p = self.guard(name)?;
        write_atomic(&p, bytes)?;
        self.note(name);
        Ok(())
    }

    /// Moves the finished file `src` (in the same file system) into place as `name`, atomically.
    pub fn move_in(&mut self, src: &Path, name: &str) -> Result<()> {
        let p = self.guard(name)?;
        std::fs::rename(src, &p)
            .with_context(|| format!("moving {} to {}", src.display(), p.display()))?;
        self.note(name);
        Ok(())
    }

    /// Records that `name` was written (by a writer of its own, atomically).
    pub fn note(&mut self, name: &str) {
        if !self.written.iter().any(|w| w == name) {
            self.written.push(name.to_string());
        }
    }

    /// A path to hand a writer for `name`, refused when it is an input.
    pub fn target(&mut self, name: &str) -> Result<PathBuf> {
        let p = self.guard(name)?;
        self.note(name);
        Ok(p)
    }

    /// Removes the files the previous run wrote that this one did not, and writes the manifest.
    pub fn finish(self) -> Result<()> {
        let manifest = self.dir.join(MANIFEST);
        if let Ok(old) = std::fs::read_to_string(&manifest) {
            for name in old.lines().map(str::trim).filter(|l| !l.is_empty()) {
                // Only plain names the tool could have written: never a path out of the folder.
                let plain = !name.contains('/') && !name.contains('\\') && !name.starts_with('.');
                if plain && !self.written.iter().any(|w| w == name) {
                    let p = self.dir.join(name);
                    let is_input =
                        std::fs::canonicalize(&p).is_ok_and(|c| self.inputs.contains(&c));
                    if p.is_file() && !is_input {
                        std::fs::remove_file(&p)
                            .with_context(|| format!("removing the stale {}", p.display()))?;
                    }
                }
            }
        }
        let mut list = self.written.join("\n");
        list.push('\n');
        write_atomic(&manifest, list.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_only_what_it_wrote_before_and_never_an_input() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("mine.txt"), "user's").unwrap();
        let mut o = OutDir::create(d.path(), &[]).unwrap();
        o.put("a.csv", b"1").unwrap();
        o.put("b.csv", b"2").unwrap();
        o.finish().unwrap();
        let mut o = OutDir::create(d.path(), &[d.path().join("mine.txt")]).unwrap();
        o.put("a.csv", b"3").unwrap();
        let e = o.put("mine.txt", b"x").unwrap_err().to_string();
        assert!(e.contains("input of this run"), "{e}");
        o.finish().unwrap();
        assert_eq!(
            std::fs::read_to_string(d.path().join("a.csv")).unwrap(),
            "3"
        );
        assert!(!d.path().join("b.csv").exists(), "stale file left");
        assert_eq!(
            std::fs::read_to_string(d.path().join("mine.txt")).unwrap(),
            "user's"
        );
        // No temporary files left behind.
        let names: Vec<String> = std::fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(names.iter().all(|n| !n.contains(".tmp-")), "{names:?}");
    }
}
