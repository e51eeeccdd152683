//@ begin build
//! The build context: the directory whose files `COPY` and `ADD` may copy, less what
//! `.dockerignore` leaves out. Sources are paths inside the context (never above it); a copy is
//! staged in a directory that becomes the step's layer, owned by root unless `--chown` says so.

use super::diff::walk;
use anyhow::{Context as _, Result, bail};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

/// The patterns of a `.dockerignore`, in order (`!PATTERN` lets back in what an earlier one left out).
pub struct Ignore {
    patterns: Vec<(bool, Vec<String>)>,
}

impl Ignore {
    pub fn load(context: &Path) -> Result<Ignore> {
        let text = match std::fs::read_to_string(context.join(".dockerignore")) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(error) => return Err(error).context("reading .dockerignore"),
        };
        let mut patterns = Vec::new();
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
            let (include, pattern) = match line.strip_prefix('!') {
                Some(rest) => (true, rest.trim()),
                None => (false, line),
            };
            let parts: Vec<String> =
                pattern.split('/').filter(|p| !p.is_empty() && *p != ".").map(str::to_string).collect();
            if !parts.is_empty() {
                patterns.push((include, parts));
            }
        }
        Ok(Ignore { patterns })
    }

    /// Is `relative` (a path in the context) left out? A pattern that matches a directory
    /// leaves out everything in it; the last pattern that matches decides.
    pub fn ignored(&self, relative: &Path) -> bool {
        let parts: Vec<String> =
            relative.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
        let mut ignored = false;
        for (include, pattern) in &self.patterns {
            let matched = (1..=parts.len()).any(|n| matches(pattern, &parts[..n]));
            if matched {
                ignored = !include;
            }
        }
        ignored
    }
}

/// Does the glob `pattern` (components; `*` and `?` inside one, `**` any number of them) match
/// the whole of `path`?
fn matches(pattern: &[String], path: &[String]) -> bool {
    match pattern.split_first() {
        None => path.is_empty(),
        Some((first, rest)) if first == "**" => (0..=path.len()).any(|skip| matches(rest, &path[skip..])),
        Some((first, rest)) => path
            .split_first()
            .is_some_and(|(name, others)| matches_name(first, name) && matches(rest, others)),
    }
}

/// `*` and `?` within one name.
fn matches_name(pattern: &str, name: &str) -> bool {
    fn go(p: &[char], n: &[char]) -> bool {
        match (p.split_first(), n.split_first()) {
            (None, None) => true,
            (Some(('*', rest)), _) => go(rest, n) || (!n.is_empty() && go(p, &n[1..])),
            (Some(('?', rest)), Some((_, others))) => go(rest, others),
            (Some((c, rest)), Some((d, others))) if c == d => go(rest, others),
            _ => false,
        }
    }
    go(&pattern.chars().collect::<Vec<_>>(), &name.chars().collect::<Vec<_>>())
}

/// A path inside the context, as written in `COPY`: no way out of the context.
fn inside(source: &str) -> Result<PathBuf> {
    let mut clean = PathBuf::new();
    for component in Path::new(source).components() {
        match component {
            Component::Normal(part) => clean.push(part),
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir => {
                if !clean.pop() {
                    bail!("`{source}` is outside the build context: COPY copies files of the context only");
                }
            }
            Component::Prefix(_) => bail!("`{source}`: not a path"),
        }
    }
    Ok(clean)
}

/// Copy `sources` (paths or globs in `context`) to `dest` (an absolute path in the image) under
/// `staging`, owned by `owner`. `existing` says, for a directory of the image, its mode, uid
/// and gid (so a copy into `/tmp` keeps `/tmp` as it was).
pub fn copy(
    context: &Path,
    ignore: &Ignore,
    sources: &[String],
    dest: &str,
    owner: (u32, u32),
    staging: &Path,
    existing: &dyn Fn(&Path) -> Option<std::fs::Metadata>,
) -> Result<()> {
    let mut chosen = Vec::new();
    let mut globbed = false;
    for source in sources {
        let clean = inside(source)?;
        if source.contains(['*', '?']) {
            globbed = true;
            let pattern: Vec<String> =
                clean.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
            for relative in walk(context)? {
                let parts: Vec<String> =
                    relative.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
                if matches(&pattern, &parts) && !ignore.ignored(&relative) {
                    chosen.push(relative);
                }
            }
        } else {
            let path = context.join(&clean);
            if std::fs::symlink_metadata(&path).is_err()
                || (!clean.as_os_str().is_empty() && ignore.ignored(&clean))
            {
                bail!("COPY {source}: no such file in the build context (or left out by .dockerignore)");
            }
            chosen.push(clean);
        }
    }
    if chosen.is_empty() {
        bail!("COPY {}: no file of the build context matches", sources.join(" "));
    }
    let into_dir = dest.ends_with('/') || chosen.len() > 1 || globbed;
    let dest = inside(dest)?;
    for source in chosen {
        let path = context.join(&source);
        let metadata = std::fs::symlink_metadata(&path)?;
        if metadata.is_dir() {
            // The directory's contents go into `dest`, which keeps the image's mode if it had one.
            make_parents(staging, &dest.join("x"), existing)?;
            for relative in walk(&path)? {
                if !ignore.ignored(&source.join(&relative)) {
                    copy_one(&path.join(&relative), &staging.join(&dest).join(&relative), owner)?;
                }
            }
        } else {
            let target = if into_dir {
                dest.join(source.file_name().context("a source without a name")?)
            } else {
                dest.clone()
            };
            make_parents(staging, &target, existing)?;
            copy_one(&path, &staging.join(&target), owner)?;
        }
    }
    Ok(())
}

/// Create the directories above `target` in `staging` as the image has them (or 0755 root).
fn make_parents(
    staging: &Path,
    target: &Path,
    existing: &dyn Fn(&Path) -> Option<std::fs::Metadata>,
) -> Result<()> {
    let mut dir = PathBuf::new();
    for component in target.parent().unwrap_or(Path::new("")).components() {
        dir.push(component);
        let made = staging.join(&dir);
        if made.is_dir() {
            continue;
        }
        std::fs::create_dir(&made).with_context(|| format!("creating {}", made.display()))?;
        let (mode, uid, gid) =
            existing(&dir).map_or((0o755, 0, 0), |m| (m.mode() & 0o7777, m.uid(), m.gid()));
        std::fs::set_permissions(&made, std::fs::Permissions::from_mode(mode))?;
        std::os::unix::fs::lchown(&made, Some(uid), Some(gid))?;
    }
    Ok(())
}

/// Copy one file, link or directory (not its contents) to `to`, owned by `owner`.
fn copy_one(from: &Path, to: &Path, (uid, gid): (u32, u32)) -> Result<()> {
    let metadata = std::fs::symlink_metadata(from)?;
    let file_type = metadata.file_type();
    if file_type.is_dir() {
        if !to.is_dir() {
            std::fs::create_dir(to).with_context(|| format!("creating {}", to.display()))?;
        }
        std::fs::set_permissions(to, std::fs::Permissions::from_mode(metadata.mode() & 0o7777))?;
    } else if file_type.is_symlink() {
        let _ = std::fs::remove_file(to);
        std::os::unix::fs::symlink(std::fs::read_link(from)?, to)?;
    } else if file_type.is_file() {
        let _ = std::fs::remove_file(to);
        std::fs::copy(from, to).with_context(|| format!("copying {}", from.display()))?;
        std::fs::set_permissions(to, std::fs::Permissions::from_mode(metadata.mode() & 0o7777))?;
    } else {
        bail!("COPY {}: only files, directories and symbolic links can be copied", from.display());
    }
    std::os::unix::fs::lchown(to, Some(uid), Some(gid)).with_context(|| format!("chown {}", to.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(p: &str) -> Vec<String> {
        p.split('/').map(str::to_string).collect()
    }

    #[test]
    fn globs() {
        assert!(matches(&parts("*.txt"), &parts("a.txt")));
        assert!(!matches(&parts("*.txt"), &parts("d/a.txt")));
        assert!(matches(&parts("**/*.txt"), &parts("d/e/a.txt")));
        assert!(matches(&parts("**/*.txt"), &parts("a.txt")));
        assert!(matches(&parts("a?c"), &parts("abc")));
        assert!(inside("../x").is_err());
        assert_eq!(inside("./a/../b").unwrap(), PathBuf::from("b"));
    }
}
//@ end build
