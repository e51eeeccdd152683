//! The initramfs format: a `newc` cpio archive, the only one the kernel unpacks. Written here
//! rather than with cpio(1), which is one package fewer to install; the format is a 110-byte
//! text header per entry, the name, the data, each padded to four bytes.

/// A cpio archive being written in memory.
pub struct Archive {
    bytes: Vec<u8>,
    inode: u32,
}

const DIR: u32 = 0o040000;
const FILE: u32 = 0o100000;
const SYMLINK: u32 = 0o120000;
const CHAR_DEVICE: u32 = 0o020000;

impl Archive {
    pub fn new() -> Archive {
        Archive { bytes: Vec::new(), inode: 1 }
    }

    pub fn dir(&mut self, name: &str, permissions: u32) {
        self.entry(name, DIR | permissions, 2, (0, 0), &[]);
    }

    pub fn file(&mut self, name: &str, permissions: u32, data: &[u8]) {
        self.entry(name, FILE | permissions, 1, (0, 0), data);
    }

    pub fn symlink(&mut self, name: &str, target: &str) {
        self.entry(name, SYMLINK | 0o777, 1, (0, 0), target.as_bytes());
    }

    pub fn char_device(&mut self, name: &str, permissions: u32, major: u32, minor: u32) {
        self.entry(name, CHAR_DEVICE | permissions, 1, (major, minor), &[]);
    }

    /// The archive, closed with its trailer.
    pub fn finish(mut self) -> Vec<u8> {
        self.inode = 0;
        self.entry("TRAILER!!!", 0, 1, (0, 0), &[]);
        self.bytes
    }

    fn entry(&mut self, name: &str, mode: u32, links: u32, (major, minor): (u32, u32), data: &[u8]) {
        let fields = [
            self.inode,
            mode,
            0, // uid: root
            0, // gid: root
            links,
            0, // mtime: fixed, so that the same inputs give the same archive
            data.len() as u32,
            0,
            0,
            major,
            minor,
            name.len() as u32 + 1,
            0,
        ];
        self.inode += 1;
        self.bytes.extend_from_slice(b"070701");
        for field in fields {
            self.bytes.extend_from_slice(format!("{field:08X}").as_bytes());
        }
        self.bytes.extend_from_slice(name.as_bytes());
        self.bytes.push(0);
        self.pad();
        self.bytes.extend_from_slice(data);
        self.pad();
    }

    fn pad(&mut self) {
        while !self.bytes.len().is_multiple_of(4) {
            self.bytes.push(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_aligned_and_the_archive_ends_with_a_trailer() {
        let mut archive = Archive::new();
        archive.dir("bin", 0o755);
        archive.file("bin/x", 0o755, b"abc");
        let bytes = archive.finish();
        assert_eq!(&bytes[..6], b"070701", "newc magic");
        assert_eq!(bytes.len() % 4, 0, "archive length is a multiple of 4");
        // First entry: header (110) + "bin\0" = 114, padded to 116.
        assert_eq!(&bytes[116..122], b"070701", "second header starts aligned");
        let text = String::from_utf8_lossy(&bytes);
        assert!(text.contains("bin/x\0"), "the file's name is stored");
        assert!(text.contains("TRAILER!!!\0"), "the trailer is written");
    }
}
