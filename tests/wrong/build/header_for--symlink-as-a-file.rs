//! wrong: only a directory keeps its type: everything else, a symbolic link or a device included, becomes a regular file (empty unless it is one)
//! caught-by: build::header_for_writes_whiteouts_and_normalises_files
//! caught-by: build::a_multi_step_dockerfile_builds_and_runs
    let mut header = Header::new_gnu();
    header.set_mtime(epoch);
    let file_type = metadata.file_type();
    if file_type.is_char_device() && metadata.rdev() == 0 {
        let name = relative.file_name().context("a whiteout without a name")?.to_string_lossy();
        header.set_entry_type(EntryType::Regular);
        header.set_mode(0o644);
        header.set_uid(0);
        header.set_gid(0);
        header.set_size(0);
        return Ok((relative.with_file_name(format!(".wh.{name}")), header));
    }
    let (entry_type, size) = if file_type.is_dir() {
        (EntryType::Directory, 0)
    } else if file_type.is_file() {
        (EntryType::Regular, metadata.len())
    } else {
        (EntryType::Regular, 0)
    };
    header.set_entry_type(entry_type);
    header.set_size(size);
    header.set_mode(metadata.mode() & 0o7777);
    header.set_uid(metadata.uid().into());
    header.set_gid(metadata.gid().into());
    Ok((relative.to_path_buf(), header))
