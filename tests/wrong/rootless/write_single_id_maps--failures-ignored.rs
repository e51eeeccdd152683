//! wrong: a map write that fails is ignored, so minibox goes on with ids the kernel never mapped
//! caught-by: rootless::the_one_id_maps_are_written_and_a_refused_write_is_an_error
    let proc = PathBuf::from(format!("/proc/{pid}"));
    let write = |file: &str, text: String| {
        std::fs::write(proc.join(file), &text)
            .with_context(|| format!("writing {text:?} to /proc/{pid}/{file}"))
    };
    // The kernel says no when a map is already written: nothing to do then.
    let _ = write("uid_map", map_text(&id_map(uid, None)));
    let _ = write("setgroups", "deny".to_string());
    let _ = write("gid_map", map_text(&id_map(gid, None)));
    Ok(())
