//! wrong: gid_map is written before setgroups is denied, which the kernel refuses (EPERM)
//! caught-by: rootless::without_subordinate_ids_one_id_is_mapped
    let proc = PathBuf::from(format!("/proc/{pid}"));
    let write = |file: &str, text: String| {
        std::fs::write(proc.join(file), &text).with_context(|| format!("writing {text:?} to /proc/{pid}/{file}"))
    };
    write("uid_map", map_text(&id_map(uid, None)))?;
    write("gid_map", map_text(&id_map(gid, None)))?;
    write("setgroups", "deny".to_string())
