//@ begin registry
//! Who may pull what. A registry that wants credentials answers `401 Unauthorized` with a
//! challenge, `WWW-Authenticate: Bearer realm="https://auth.docker.io/token",
//! service="registry.docker.io",scope="repository:library/busybox:pull"`: ask the realm (a token
//! service) for a token for that service and scope, anonymously or with a user's credentials,
//! then repeat the request with `Authorization: Bearer TOKEN`. Docker's token authentication
//! specification describes the flow; Docker Hub asks for it even for public images.

use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// A parsed `WWW-Authenticate` challenge: its scheme and its parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Challenge {
    /// `bearer` or `basic`, in lower case (schemes are case-insensitive).
    pub scheme: String,
    /// `realm`, `service`, `scope`... (names in lower case).
    pub params: BTreeMap<String, String>,
}

// ANCHOR: challenge
/// Parse a challenge (RFC 9110 section 11.6.1): a scheme, then `name=value` pairs separated by
/// commas, each value a token or a quoted string in which a backslash escapes the next
/// character. A quoted value may itself hold commas (`scope="repository:a:pull,push"`).
pub fn parse_challenge(header: &str) -> Result<Challenge> {
    //@ exercise registry challenge
    let header = header.trim();
    let (scheme, mut rest) = header.split_once(' ').unwrap_or((header, ""));
    if scheme.is_empty() {
        anyhow::bail!("an empty WWW-Authenticate challenge");
    }
    let mut params = BTreeMap::new();
    loop {
        rest = rest.trim_start_matches([' ', ',']);
        if rest.is_empty() {
            break;
        }
        let (name, after) = rest
            .split_once('=')
            .with_context(|| format!("challenge parameter without a value in `{header}`"))?;
        let mut value = String::new();
        let mut chars = after.trim_start().chars();
        if after.trim_start().starts_with('"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') => break,
                    Some('\\') => value.extend(chars.next()),
                    Some(c) => value.push(c),
                    None => anyhow::bail!("unterminated quoted string in `{header}`"),
                }
            }
            rest = chars.as_str();
        } else {
            let end = after.find(',').unwrap_or(after.len());
            value.push_str(after[..end].trim());
            rest = &after[end..];
        }
        params.insert(name.trim().to_ascii_lowercase(), value);
    }
    Ok(Challenge { scheme: scheme.to_ascii_lowercase(), params })
    //@ stub
    //| let _ = header;
    //| todo!("chapter {chapter}, `challenge`: split a WWW-Authenticate challenge into its scheme and its parameters; `cargo xtask hint registry challenge` helps (book: Chapter {chapter}, \"Tokens\")")
    //@ end registry challenge
}
// ANCHOR_END: challenge

/// A user's name and password (or access token) for one registry.
#[derive(Clone, Debug)]
pub struct Credentials {
    pub user: String,
    pub password: String,
}

impl Credentials {
    /// `Basic BASE64(user:password)`, as HTTP basic authentication sends them.
    pub fn basic(&self) -> String {
        format!("Basic {}", base64(format!("{}:{}", self.user, self.password).as_bytes()))
    }
}

/// The file `minibox login` writes: `STATE/auth.json`, readable by its owner only.
pub fn credentials_file(state_dir: &Path) -> PathBuf {
    state_dir.join("auth.json")
}

/// The credentials saved for `registry`, if any.
pub fn load_credentials(state_dir: &Path, registry: &str) -> Result<Option<Credentials>> {
    let path = credentials_file(state_dir);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(error).with_context(|| format!("reading {}", path.display())),
    };
    let all: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    let Some(entry) = all.get(registry) else { return Ok(None) };
    let field = |name: &str| entry.get(name).and_then(|v| v.as_str()).unwrap_or_default().to_string();
    Ok(Some(Credentials { user: field("user"), password: field("password") }))
}

/// Save credentials for `registry` (replacing any before), in a file of mode 0600 written
/// aside and renamed, so that no reader ever sees it half written or readable by others.
pub fn save_credentials(state_dir: &Path, registry: &str, credentials: &Credentials) -> Result<()> {
    let path = credentials_file(state_dir);
    let mut all: serde_json::Map<String, serde_json::Value> = std::fs::read_to_string(&path)
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default();
    all.insert(
        registry.to_string(),
        serde_json::json!({"user": credentials.user, "password": credentials.password}),
    );
    let temporary = state_dir.join(format!(".auth.json.{}", std::process::id()));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temporary)
        .with_context(|| format!("creating {}", temporary.display()))?;
    let written = file
        .write_all(serde_json::Value::Object(all).to_string().as_bytes())
        .and_then(|()| file.sync_all())
        .and_then(|()| std::fs::rename(&temporary, &path));
    if let Err(error) = written {
        let _ = std::fs::remove_file(&temporary);
        return Err(error).with_context(|| format!("writing {}", path.display()));
    }
    Ok(())
}

/// Standard base64 with padding (RFC 4648), for basic authentication.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_is_rfc_4648() {
        for (plain, encoded) in
            [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foobar", "Zm9vYmFy")]
        {
            assert_eq!(base64(plain.as_bytes()), encoded);
        }
    }
}
//@ end registry
