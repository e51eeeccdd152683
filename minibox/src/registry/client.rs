//@ begin registry
//! Talking to one repository of one registry over HTTP: every request goes through
//! [`Client::send`], which answers the registry's authentication challenge once and remembers
//! the answer for the requests that follow.

use super::auth::{self, Challenge, Credentials};
use super::reference::RemoteReference;
use anyhow::{Context, Result, bail};
use std::io::Read;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

pub type Response = ureq::http::Response<ureq::Body>;

/// What a request carries.
#[derive(Clone, Copy)]
pub enum Payload<'a> {
    Nothing,
    Bytes(&'a [u8]),
    /// A file, sent as it is read (a layer may be larger than memory).
    File(&'a Path),
}

/// A connection to `REGISTRY/v2/REPOSITORY/`.
pub struct Client {
    agent: ureq::Agent,
    /// `https://HOST` (or `http://HOST` with --insecure, for loopback only).
    base: String,
    repository: String,
    /// The scope asked of a token service when the challenge names none.
    scope: String,
    credentials: Option<Credentials>,
    /// The `Authorization` header that last worked, shared by the threads that fetch layers.
    authorization: Mutex<Option<String>>,
}

impl Client {
    /// A client for `remote`'s repository, for the actions `pull` or `pull,push`.
    pub fn new(
        remote: &RemoteReference,
        insecure: bool,
        credentials: Option<Credentials>,
        actions: &str,
    ) -> Result<Client> {
        let host = remote.api_host();
        let scheme = if insecure {
            if !is_loopback(host) {
                bail!(
                    "--insecure (plain HTTP) is for a registry on this machine only (localhost, 127.0.0.1 or ::1), not {host}"
                );
            }
            "http"
        } else {
            "https"
        };
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .user_agent(concat!("minibox/", env!("CARGO_PKG_VERSION")))
            .timeout_connect(Some(Duration::from_secs(15)))
            .timeout_recv_response(Some(Duration::from_secs(60)))
            .tls_config(
                ureq::tls::TlsConfig::builder().root_certs(ureq::tls::RootCerts::PlatformVerifier).build(),
            )
            .build()
            .new_agent();
        Ok(Client {
            agent,
            base: format!("{scheme}://{host}"),
            repository: remote.repository.clone(),
            // No repository (`minibox login`): no scope, a token that only proves who asks.
            scope: if remote.repository.is_empty() {
                String::new()
            } else {
                format!("repository:{}:{actions}", remote.repository)
            },
            credentials,
            authorization: Mutex::new(None),
        })
    }

    /// `BASE/v2/REPOSITORY/PATH`.
    pub fn url(&self, path: &str) -> String {
        format!("{}/v2/{}/{path}", self.base, self.repository)
    }

    /// `GET /v2/`: is this a registry, and does it accept us?
    pub fn ping(&self) -> Result<()> {
        let url = format!("{}/v2/", self.base);
        let response = self.send("GET", &url, &[], Payload::Nothing)?;
        if response.status() != 200 {
            return Err(unexpected(&format!("{url} is not a registry's API"), response));
        }
        Ok(())
    }

    /// A URL the registry gave (an upload's `Location`), made absolute.
    pub fn absolute(&self, location: &str) -> String {
        if location.starts_with("http://") || location.starts_with("https://") {
            location.to_string()
        } else {
            format!("{}{location}", self.base)
        }
    }

    /// Send a request; when the registry answers 401 with a challenge, get what it asks for (a
    /// token, or basic credentials) and send the request once more.
    pub fn send(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        payload: Payload,
    ) -> Result<Response> {
        let response = self.attempt(method, url, headers, payload)?;
        if response.status() != 401 {
            return Ok(response);
        }
        let challenge = response
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .context("the registry answered 401 Unauthorized without a WWW-Authenticate challenge")?;
        let challenge = auth::parse_challenge(challenge)?;
        crate::step!("{method} {url}: 401, challenge {challenge:?}");
        let authorization = self.authorize(&challenge)?;
        *self.authorization.lock().expect("no thread panics holding the lock") = Some(authorization);
        let response = self.attempt(method, url, headers, payload)?;
        if response.status() == 401 || response.status() == 403 {
            bail!("{}", self.denied("the registry refused access to", response.status().as_u16()));
        }
        Ok(response)
    }

    fn attempt(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        payload: Payload,
    ) -> Result<Response> {
        crate::step!("{method} {url}");
        let mut request = ureq::http::Request::builder().method(method).uri(url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(authorization) =
            self.authorization.lock().expect("no thread panics holding the lock").clone()
        {
            request = request.header("Authorization", authorization);
        }
        let sent = match payload {
            Payload::Nothing => self.agent.run(request.body(())?),
            Payload::Bytes(bytes) => self.agent.run(request.body(bytes)?),
            Payload::File(path) => {
                let file =
                    std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
                self.agent.run(request.body(file)?)
            }
        };
        sent.with_context(|| format!("{method} {url}"))
    }

    /// Answer a challenge: basic credentials, or a token from the challenge's realm.
    fn authorize(&self, challenge: &Challenge) -> Result<String> {
        match challenge.scheme.as_str() {
            "basic" => match &self.credentials {
                Some(credentials) => Ok(credentials.basic()),
                None => bail!("{}", self.denied("the registry wants a user and password for", 401)),
            },
            "bearer" => self.fetch_token(challenge).map(|token| format!("Bearer {token}")),
            other => bail!("the registry asks for `{other}` authentication, which minibox does not speak"),
        }
    }

    /// `GET REALM?service=SERVICE&scope=SCOPE`, with the user's credentials if there are any;
    /// the answer is JSON with the token in `token` (or `access_token`, OAuth's name).
    fn fetch_token(&self, challenge: &Challenge) -> Result<String> {
        let realm = challenge.params.get("realm").context("a Bearer challenge without a realm")?;
        let plain_ok = realm.strip_prefix("http://").map(|rest| rest.split(['/', '?']).next().unwrap_or(""));
        if !realm.starts_with("https://") && !plain_ok.is_some_and(is_loopback) {
            bail!("the token service {realm} is not an https URL (nor plain HTTP on this machine)");
        }
        let mut url = format!("{realm}{}", if realm.contains('?') { '&' } else { '?' });
        if let Some(service) = challenge.params.get("service") {
            url.push_str(&format!("service={}&", percent_encode(service)));
        }
        let scope = challenge.params.get("scope").unwrap_or(&self.scope);
        if !scope.is_empty() {
            url.push_str(&format!("scope={}", percent_encode(scope)));
        }
        let mut request = ureq::http::Request::builder().method("GET").uri(&url);
        if let Some(credentials) = &self.credentials {
            request = request.header("Authorization", credentials.basic());
        }
        crate::step!(
            "GET {url} (a token{})",
            if self.credentials.is_some() { ", with credentials" } else { "" }
        );
        let response =
            self.agent.run(request.body(())?).with_context(|| format!("asking {realm} for a token"))?;
        let status = response.status().as_u16();
        if status == 401 || status == 403 {
            bail!("{}", self.denied("the token service refused a token for", status));
        }
        if status != 200 {
            bail!("the token service {realm} answered {status}");
        }
        let body = read_small(response)?;
        let json: serde_json::Value =
            serde_json::from_slice(&body).context("the token service's answer is not JSON")?;
        json.get("token")
            .or_else(|| json.get("access_token"))
            .and_then(|t| t.as_str())
            .map(str::to_string)
            .context("the token service's answer holds no token")
    }

    fn denied(&self, what: &str, status: u16) -> String {
        let host = self.base.split("://").nth(1).unwrap_or(&self.base);
        match &self.credentials {
            None => format!(
                "{what} {} ({status}): the repository may not exist, or it needs credentials (`minibox login {host}`)",
                self.repository
            ),
            Some(credentials) => format!(
                "{what} {} ({status}) as {}: check the repository's name and your credentials (`minibox login {host}`)",
                self.repository, credentials.user
            ),
        }
    }
}

/// Read a small answer (a manifest, a token, an error) whole, at most 4 MiB: a manifest is a
/// few kilobytes, and a registry that sends more is not trusted with memory.
pub fn read_small(response: Response) -> Result<Vec<u8>> {
    const LIMIT: u64 = 4 << 20;
    let mut bytes = Vec::new();
    response.into_body().into_reader().take(LIMIT + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > LIMIT {
        bail!("the registry's answer is larger than {LIMIT} bytes");
    }
    Ok(bytes)
}

/// An error for an answer that is not the one wanted: the status, and the registry's own
/// message when it sends one (`{"errors":[{"code":"MANIFEST_UNKNOWN","message":"..."}]}`).
pub fn unexpected(what: &str, response: Response) -> anyhow::Error {
    let status = response.status().as_u16();
    let body = read_small(response).unwrap_or_default();
    let message = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|json| {
            let first = json.get("errors")?.get(0)?.clone();
            Some(format!(
                "{}: {}",
                first.get("code")?.as_str().unwrap_or_default(),
                first.get("message").and_then(|m| m.as_str()).unwrap_or_default()
            ))
        })
        .unwrap_or_else(|| String::from_utf8_lossy(&body).lines().next().unwrap_or_default().to_string());
    anyhow::anyhow!("{what}: the registry answered {status} {message}")
}

/// A host (with or without a port) on this machine: `localhost`, 127.0.0.0/8 or `[::1]`.
pub fn is_loopback(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(bracketed) => bracketed.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    name == "localhost" || name.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// A query parameter's value, percent-encoded (RFC 3986: all but the unreserved characters).
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_this_machine_is_loopback() {
        for host in ["localhost", "localhost:5000", "127.0.0.1:5000", "127.1.2.3", "[::1]:5000"] {
            assert!(is_loopback(host), "{host}");
        }
        for host in ["example.com", "10.0.0.1:5000", "registry-1.docker.io", "localhost.evil.com"] {
            assert!(!is_loopback(host), "{host}");
        }
    }

    #[test]
    fn scopes_are_percent_encoded() {
        assert_eq!(
            percent_encode("repository:library/busybox:pull,push"),
            "repository%3Alibrary%2Fbusybox%3Apull%2Cpush"
        );
    }
}
//@ end registry
