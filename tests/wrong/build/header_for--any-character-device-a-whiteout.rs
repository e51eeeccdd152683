//! wrong: every character device is taken for a whiteout, not only one whose device number is 0:0
//! caught-by: build::header_for_writes_whiteouts_and_normalises_files
    let mut header = Header::new_gnu();
    header.set_mtime(epoch);
    let file_type = metadata.file_type();
    if file_type.is_char_device() {
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
    } else if file_type.is_symlink() {
        (EntryType::Symlink, 0)
    } else if file_type.is_file() {
        (EntryType::Regular, metadata.len())
    } else if file_type.is_block_device() {
        (EntryType::Block, 0)
    } else {
        (EntryType::Fifo, 0)
    };
    header.set_entry_type(entry_type);
    header.set_size(size);
    header.set_mode(metadata.mode() & 0o7777);
    header.set_uid(metadata.uid().into());
    header.set_gid(metadata.gid().into());
    Ok((relative.to_path_buf(), header))
