//@ begin daemon
//! The Engine API's paths, as the docker CLI sends them: `/v1.41/containers/ID/start` and the
//! like. [`route`] turns a method and a path into a [`Route`]; the daemon's handlers do the rest.

/// The newest API version minibox speaks: Docker 20.10's, which Debian 12's docker CLI speaks.
pub const VERSION: (u32, u32) = (1, 41);
/// The oldest: the API of Docker 1.12, which every docker CLI of the last years can fall back to.
pub const MIN_VERSION: (u32, u32) = (1, 24);

/// An error as the API reports it: a status code and `{"message": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub message: String,
}

impl ApiError {
    pub fn new(status: u16, message: String) -> ApiError {
        ApiError { status, message }
    }
    pub fn bad_request(message: String) -> ApiError {
        ApiError::new(400, message)
    }
    pub fn not_found(message: String) -> ApiError {
        ApiError::new(404, message)
    }
    pub fn conflict(message: String) -> ApiError {
        ApiError::new(409, message)
    }
    /// minibox failed: the error's chain of causes on one line.
    pub fn internal(error: anyhow::Error) -> ApiError {
        ApiError::new(500, format!("{error:#}"))
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status, self.message)
    }
}

/// What a request asks for. Container and exec ids are as the client gave them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Ping,
    Version,
    Info,
    ListImages,
    /// `POST /images/create?fromImage=...`: a pull.
    Pull,
    InspectImage(String),
    ListContainers,
    Create,
    Inspect(String),
    Start(String),
    Stop(String),
    Kill(String),
    Wait(String),
    Remove(String),
    Attach(String),
    Logs(String),
    Resize(String),
    ExecCreate(String),
    ExecStart(String),
    ExecInspect(String),
    ExecResize(String),
}

// ANCHOR: route
/// The route of a request. The path may start with an API version, `/v1.41`, which must lie
/// between [`MIN_VERSION`] and [`VERSION`]: a client newer than minibox gets a 400 that says
/// so (the docker CLI asks `/_ping` first and then speaks no newer than the daemon). Anything
/// unknown is a 404; an image's name may hold slashes (`127.0.0.1:5000/library/busybox`).
pub fn route(method: &str, path: &str) -> Result<Route, ApiError> {
    //@ exercise daemon route
    let mut segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    if let Some(version) = segments.first().and_then(|s| s.strip_prefix('v'))
        && let Some((major, minor)) = version.split_once('.')
        && let (Ok(major), Ok(minor)) = (major.parse::<u32>(), minor.parse::<u32>())
    {
        if (major, minor) > VERSION {
            return Err(ApiError::bad_request(format!(
                "client version {version} is too new. Maximum supported API version is {}.{}",
                VERSION.0, VERSION.1
            )));
        }
        if (major, minor) < MIN_VERSION {
            return Err(ApiError::bad_request(format!(
                "client version {version} is too old. Minimum supported API version is {}.{}, please upgrade your client",
                MIN_VERSION.0, MIN_VERSION.1
            )));
        }
        segments.remove(0);
    }
    let id = |s: &str| s.to_string();
    let route = match (method, segments.as_slice()) {
        ("GET" | "HEAD", ["_ping"]) => Route::Ping,
        ("GET", ["version"]) => Route::Version,
        ("GET", ["info"]) => Route::Info,
        ("GET", ["images", "json"]) => Route::ListImages,
        ("POST", ["images", "create"]) => Route::Pull,
        ("GET", ["images", name @ .., "json"]) if !name.is_empty() => Route::InspectImage(name.join("/")),
        ("GET", ["containers", "json"]) => Route::ListContainers,
        ("POST", ["containers", "create"]) => Route::Create,
        ("GET", ["containers", c, "json"]) => Route::Inspect(id(c)),
        ("POST", ["containers", c, "start"]) => Route::Start(id(c)),
        ("POST", ["containers", c, "stop"]) => Route::Stop(id(c)),
        ("POST", ["containers", c, "kill"]) => Route::Kill(id(c)),
        ("POST", ["containers", c, "wait"]) => Route::Wait(id(c)),
        ("DELETE", ["containers", c]) => Route::Remove(id(c)),
        ("POST", ["containers", c, "attach"]) => Route::Attach(id(c)),
        ("GET", ["containers", c, "logs"]) => Route::Logs(id(c)),
        ("POST", ["containers", c, "resize"]) => Route::Resize(id(c)),
        ("POST", ["containers", c, "exec"]) => Route::ExecCreate(id(c)),
        ("POST", ["exec", e, "start"]) => Route::ExecStart(id(e)),
        ("GET", ["exec", e, "json"]) => Route::ExecInspect(id(e)),
        ("POST", ["exec", e, "resize"]) => Route::ExecResize(id(e)),
        _ => return Err(ApiError::not_found("page not found".into())),
    };
    Ok(route)
    //@ stub
    //| let _ = (method, path, VERSION, MIN_VERSION);
    //| todo!("chapter {chapter}, `route`: turn a method and a path into the request's Route; `cargo xtask hint daemon route` helps (book: Chapter {chapter}, \"Routing a request\")")
    //@ end daemon route
}
// ANCHOR_END: route

/// The query string's parameters, percent-decoded (`filters` comes as encoded JSON).
pub fn query(query: Option<&str>) -> std::collections::HashMap<String, String> {
    query
        .unwrap_or_default()
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(key), decode(value))
        })
        .collect()
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if let Some(byte) = hex_byte(bytes.get(i + 1..i + 3)) => {
                out.push(byte);
                i += 2;
            }
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_byte(digits: Option<&[u8]>) -> Option<u8> {
    u8::from_str_radix(std::str::from_utf8(digits?).ok()?, 16).ok()
}

/// A boolean parameter as Docker reads them: `1`, `true`, `True`.
pub fn flag(query: &std::collections::HashMap<String, String>, key: &str) -> bool {
    query.get(key).is_some_and(|v| matches!(v.as_str(), "1" | "true" | "True"))
}
//@ end daemon
