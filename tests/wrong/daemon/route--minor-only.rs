//! wrong: only the minor number is compared, so 2.0 reads older than 1.24
//! caught-by: daemon::routes_follow_the_engine_api
    let mut segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    if let Some(version) = segments.first().and_then(|s| s.strip_prefix('v'))
        && let Some((major, minor)) = version.split_once('.')
        && let (Ok(major), Ok(minor)) = (major.parse::<u32>(), minor.parse::<u32>())
    {
        let _ = major;
        if minor > VERSION.1 {
            return Err(ApiError::bad_request(format!(
                "client version {version} is too new. Maximum supported API version is {}.{}",
                VERSION.0, VERSION.1
            )));
        }
        if minor < MIN_VERSION.1 {
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
