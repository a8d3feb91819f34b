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

/// Removes the temporary files (`.NAME.tmp-PID`), export and staging folders (`.eie-export-PID`,
/// `.eie-staging-PID`) that a run of
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
        let pid = match (
            rest.strip_prefix("eie-export-")
                .or_else(|| rest.strip_prefix("eie-staging-")),
            rest.rsplit_once(".tmp-"),
        ) {
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

/// The manifest of the files one command (`report`, `export`) wrote in an output folder: `.eie-manifest-KIND`.
/// Each command has its own, so that a report and an export into one folder never remove each other's files.
pub fn manifest_name(kind: &str) -> String {
    format!(".eie-manifest-{kind}")
}

/// Extensions of the files a command writes: only such files are ever removed as stale (a manifest edited by
/// hand cannot make the tool delete anything else).
const OUTPUT_EXTENSIONS: [&str; 5] = ["md", "csv", "svg", "json", "npy"];

/// An output folder. Files are staged in a private folder inside it (`.eie-staging-PID`) and moved into
/// place together by [`OutDir::finish`], which then removes what this command's previous run listed and this
/// one did not write, and writes the new list. A run that fails or is refused before `finish` (an input
/// among its outputs, a full disk) changes nothing under a final name: the staging folder is removed.
pub struct OutDir {
    dir: PathBuf,
    kind: &'static str,
    staging: PathBuf,
    written: Vec<String>,
    /// Names listed in the manifest that live in the folder already (not staged).
    kept: Vec<String>,
    /// Paths this run must not overwrite (its inputs).
    inputs: Vec<PathBuf>,
}

impl OutDir {
    /// Creates `dir` if needed, for command `kind`. `inputs` are files this run reads: writing onto one is
    /// refused.
    pub fn create(dir: &Path, kind: &'static str, inputs: &[PathBuf]) -> Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        remove_orphans(dir);
        let staging = dir.join(format!(".eie-staging-{}", std::process::id()));
        std::fs::create_dir_all(&staging)
            .with_context(|| format!("creating {}", staging.display()))?;
        Ok(Self {
            dir: dir.to_path_buf(),
            kind,
            staging,
            written: Vec::new(),
            kept: Vec::new(),
            inputs: inputs
                .iter()
                .map(|p| std::fs::canonicalize(p).unwrap_or_else(|_| p.clone()))
                .collect(),
        })
    }

    /// The final path of `name` in the folder.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Refuses `name` when its final path is one of this run's inputs, or when it is not a plain name;
    /// else the path to stage it at.
    fn guard(&self, name: &str) -> Result<PathBuf> {
        if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
            bail!("{name:?}: not a plain output file name");
        }
        let p = self.path(name);
        if let Ok(c) = std::fs::canonicalize(&p)
            && self.inputs.contains(&c)
        {
            bail!(
                "{}: is an input of this run; refusing to overwrite it (choose another --out)",
                p.display()
            );
        }
        Ok(self.staging.join(name))
    }

    /// Stages `name` with `bytes`.
    pub fn put(&mut self, name: &str, bytes: &[u8]) -> Result<()> {
        let p = self.guard(name)?;
        std::fs::write(&p, bytes)
            .with_context(|| format!("writing {}", self.path(name).display()))?;
        self.note(name);
        Ok(())
    }

    /// Stages the finished file `src` (in the same file system) as `name`.
    pub fn move_in(&mut self, src: &Path, name: &str) -> Result<()> {
        let p = self.guard(name)?;
        std::fs::rename(src, &p)
            .with_context(|| format!("moving {} to {}", src.display(), p.display()))?;
        self.note(name);
        Ok(())
    }

    fn note(&mut self, name: &str) {
        if !self.written.iter().any(|w| w == name) {
            self.written.push(name.to_string());
        }
    }

    /// Lists `name`, a file already in the folder (not staged), as this run's: it is not removed as stale.
    pub fn keep(&mut self, name: &str) {
        if !self.kept.iter().any(|w| w == name) {
            self.kept.push(name.to_string());
        }
    }

    /// A path to hand a writer for `name` (in the staging folder), refused when its final path is an input.
    pub fn target(&mut self, name: &str) -> Result<PathBuf> {
        let p = self.guard(name)?;
        self.note(name);
        Ok(p)
    }

    /// Moves every staged file into place, removes the files this command's previous run listed that this one
    /// did not write, and writes the manifest.
    pub fn finish(self) -> Result<()> {
        for name in &self.written {
            let (from, to) = (self.staging.join(name), self.path(name));
            if from.exists() {
                std::fs::rename(&from, &to)
                    .with_context(|| format!("moving {} into place", to.display()))?;
            }
        }
        let manifest = self.dir.join(manifest_name(self.kind));
        if let Ok(old) = std::fs::read_to_string(&manifest) {
            for name in old.lines().map(str::trim).filter(|l| !l.is_empty()) {
                // Only plain names with an extension the tool writes: never a path out of the folder.
                let plain = !name.contains('/') && !name.contains('\\') && !name.starts_with('.');
                let ours = Path::new(name)
                    .extension()
                    .and_then(|e| e.to_str())
                    .is_some_and(|e| OUTPUT_EXTENSIONS.contains(&e));
                let listed = self.written.iter().chain(&self.kept).any(|w| w == name);
                if plain && ours && !listed {
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
        let mut list = self
            .written
            .iter()
            .chain(&self.kept)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n");
        list.push('\n');
        write_atomic(&manifest, list.as_bytes())
        // `Drop` removes the (now empty) staging folder.
    }
}

impl Drop for OutDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.staging);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_only_what_it_wrote_before_and_never_an_input() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("mine.txt"), "user's").unwrap();
        let mut o = OutDir::create(d.path(), "report", &[]).unwrap();
        o.put("a.csv", b"1").unwrap();
        o.put("b.csv", b"2").unwrap();
        o.finish().unwrap();
        let mut o = OutDir::create(d.path(), "report", &[d.path().join("mine.txt")]).unwrap();
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
