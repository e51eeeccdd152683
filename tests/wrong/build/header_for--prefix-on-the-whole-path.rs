//! wrong: the whiteout's name is .wh. put before the whole path (.wh.bin/vi), not before the file name in its directory
//! caught-by: build::header_for_writes_whiteouts_and_normalises_files
//! caught-by: build::a_deleted_file_stays_deleted
    let mut header = Header::new_gnu();
    header.set_mtime(epoch);
    let file_type = metadata.file_type();
    if file_type.is_char_device() && metadata.rdev() == 0 {
        header.set_entry_type(EntryType::Regular);
        header.set_mode(0o644);
        header.set_uid(0);
        header.set_gid(0);
        header.set_size(0);
        return Ok((PathBuf::from(format!(".wh.{}", relative.display())), header));
    }
    let (entry_type, size) = if file_type.is_dir() {
        (EntryType::Directory, 0)
    } else if file_type.is_symlink() {
        (EntryType::Symlink, 0)
    } else if file_type.is_file() {
        (EntryType::Regular, metadata.len())
    } else if file_type.is_char_device() {
        (EntryType::Char, 0)
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
