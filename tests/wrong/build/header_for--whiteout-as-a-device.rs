//! wrong: a whiteout is written as the character device it is in the upper directory, not as a .wh. file
//! caught-by: build::header_for_writes_whiteouts_and_normalises_files
//! caught-by: build::a_deleted_file_stays_deleted
    let mut header = Header::new_gnu();
    header.set_mtime(epoch);
    let file_type = metadata.file_type();
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
