//@ begin network
//! Address management: which container has which address on the bridge's subnet.
//!
//! A lease is a file named after its address in the network's `leases/` directory, holding the
//! container's id and its published ports. The minibox that owns the container keeps the file
//! open with an exclusive `flock` for the container's whole life; the kernel drops the lock when
//! that minibox dies, however it dies. So a lease whose lock can be taken is an orphan, left by
//! a minibox that was killed, and its address is free again once it is reclaimed. Allocation and
//! reclaim happen under the network's own lock (see [`super::NetworkDir`]).

use super::Published;
use anyhow::{Context, Result, bail};
use std::collections::BTreeSet;
use std::fs::File;
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

/// The bridge's subnet: 10.77.0.0/24 (neither Docker's 172.17.0.0/16 nor podman's 10.88.0.0/16,
/// so minibox can run next to either).
pub const SUBNET: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 0);
pub const PREFIX: u8 = 24;
/// The bridge's own address: the containers' default gateway.
pub const GATEWAY: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);

/// A container's address, held (locked) for as long as this value lives.
pub struct Lease {
    pub address: Ipv4Addr,
    path: PathBuf,
    _lock: File,
}

/// What a lease file says.
pub struct LeaseRecord {
    pub address: Ipv4Addr,
    pub id: String,
    pub ports: Vec<Published>,
}

// ANCHOR: next_free_address
/// The lowest address of the subnet that a container may have and that no lease holds. Not the
/// subnet's own address (all host bits zero), not the gateway, not the broadcast address (all
/// host bits one). `None` when every address is taken.
pub fn next_free_address(taken: &BTreeSet<Ipv4Addr>) -> Option<Ipv4Addr> {
    let base = u32::from(SUBNET);
    let hosts = 1u32 << (32 - PREFIX);
    (1..hosts - 1)
        .map(|offset| Ipv4Addr::from(base + offset))
        .find(|address| *address != GATEWAY && !taken.contains(address))
}
// ANCHOR_END: next_free_address

/// Take the lowest free address for container `id`. The caller holds the network's lock.
pub fn allocate(leases: &Path, id: &str, ports: &[Published]) -> Result<Lease> {
    std::fs::create_dir_all(leases).with_context(|| format!("creating {}", leases.display()))?;
    let taken: BTreeSet<Ipv4Addr> = read_all(leases)?.into_iter().map(|record| record.address).collect();
    let Some(address) = next_free_address(&taken) else {
        bail!("no free address left on {SUBNET}/{PREFIX}: {} containers hold one", taken.len());
    };
    if taken.contains(&address) || address == GATEWAY {
        bail!("the address chosen, {address}, is already in use (taken: {taken:?})");
    }
    let path = leases.join(address.to_string());
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .with_context(|| format!("creating the lease {}", path.display()))?;
    lock(&file).with_context(|| format!("locking the lease {}", path.display()))?;
    let mut text = format!("{id}\n");
    for port in ports {
        text.push_str(&format!("{port}\n"));
    }
    file.write_all(text.as_bytes()).with_context(|| format!("writing the lease {}", path.display()))?;
    Ok(Lease { address, path, _lock: file })
}

impl Lease {
    /// Give the address back.
    pub fn release(self) -> Result<()> {
        std::fs::remove_file(&self.path)
            .with_context(|| format!("removing the lease {}", self.path.display()))
    }
}

/// Every lease in the directory, live or orphaned.
pub fn read_all(leases: &Path) -> Result<Vec<LeaseRecord>> {
    let mut records = Vec::new();
    let entries = match std::fs::read_dir(leases) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(records),
        Err(error) => return Err(error).with_context(|| format!("reading {}", leases.display())),
    };
    for entry in entries.flatten() {
        let Some(address) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else { continue };
        let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
        let mut lines = text.lines();
        let id = lines.next().unwrap_or("").to_string();
        let ports = lines.filter_map(|line| line.parse().ok()).collect();
        records.push(LeaseRecord { address, id, ports });
    }
    Ok(records)
}

/// The leases whose minibox is gone: their lock can be taken. Each comes with the locked file,
/// so that no one else can reclaim it meanwhile.
pub fn orphans(leases: &Path) -> Result<Vec<(LeaseRecord, File)>> {
    let mut found = Vec::new();
    for record in read_all(leases)? {
        let path = leases.join(record.address.to_string());
        let Ok(file) = File::open(&path) else { continue };
        if lock(&file).is_ok() {
            found.push((record, file));
        }
    }
    Ok(found)
}

/// Remove an orphan's lease file (its lock is held by the caller).
pub fn forget(leases: &Path, record: &LeaseRecord) -> Result<()> {
    let path = leases.join(record.address.to_string());
    std::fs::remove_file(&path).with_context(|| format!("removing the lease {}", path.display()))
}

/// An exclusive lock, without waiting.
fn lock(file: &File) -> std::io::Result<()> {
    file.try_lock().map_err(std::io::Error::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_start_after_the_gateway_and_skip_taken_ones() {
        let mut taken = BTreeSet::new();
        assert_eq!(next_free_address(&taken), Some(Ipv4Addr::new(10, 77, 0, 2)));
        taken.insert(Ipv4Addr::new(10, 77, 0, 2));
        taken.insert(Ipv4Addr::new(10, 77, 0, 4));
        assert_eq!(next_free_address(&taken), Some(Ipv4Addr::new(10, 77, 0, 3)));
    }

    #[test]
    fn a_full_subnet_has_no_address_and_never_the_broadcast() {
        let taken: BTreeSet<Ipv4Addr> = (2..=254).map(|n| Ipv4Addr::new(10, 77, 0, n)).collect();
        assert_eq!(next_free_address(&taken), None);
    }
}
//@ end network
