//! wrong: the gid map is written from the uid, which only works for users whose gid is their uid
//! caught-by: rootless::without_subordinate_ids_one_id_is_mapped
//! caught-by: rootless::the_one_id_maps_are_written_and_a_refused_write_is_an_error
    let proc = PathBuf::from(format!("/proc/{pid}"));
    let write = |file: &str, text: String| {
        std::fs::write(proc.join(file), &text)
            .with_context(|| format!("writing {text:?} to /proc/{pid}/{file}"))
    };
    write("uid_map", map_text(&id_map(uid, None)))?;
    write("setgroups", "deny".to_string())?;
    let _ = gid;
    write("gid_map", map_text(&id_map(uid, None)))
